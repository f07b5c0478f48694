// @vitest-environment happy-dom
import { mount } from '@vue/test-utils';
import { describe, expect, it } from 'vitest';
import type { LoadModelRequest } from '../../core/api';
import type { ModelOutput } from '../../core/model-info';
import { API_KEY } from '../../renderer/api';
import ModelPanel from '../../renderer/components/ModelPanel.vue';
import ScalesPanel from '../../renderer/components/ScalesPanel.vue';
import { useModelStore } from '../../renderer/stores/model';
import { useScoresStore } from '../../renderer/stores/scores';
import { useSessionStore } from '../../renderer/stores/session';
import { fakeApi, MODEL, modelInfo, piniaWith, settle } from './fake-api';

const OUTPUTS: ModelOutput[] = [
  { name: 'mask', shape: [null, 5, 5, 1], kind: 'spatial', note: 'a 5×5×1 map: not a classifier output' },
  { name: 'gender', shape: [null, 2], kind: 'classes' },
  { name: 'age', shape: [null, 3], kind: 'classes' },
];

/** Main's answer as the converter gives it: the output asked for (default the first class output), its classes, the label file's labels. */
function answer(req: LoadModelRequest) {
  const output = req.output ?? 'gender';
  const classes = output === 'age' ? 3 : 2;
  const labels = req.labelsFile ? Array.from({ length: classes }, (_, i) => `from file ${i}`) : Array.from({ length: classes }, (_, i) => `${output} ${i}`);
  const id = `m-${output}${req.stride ? `-s${req.stride}` : ''}${req.labelsFile ? '-l' : ''}`;
  return {
    ...MODEL, id, path: req.path,
    info: modelInfo({
      outputs: OUTPUTS, output, labels, ...(req.labelsFile ? { labelsFile: req.labelsFile } : {}),
      ...(req.stride ? { stride: [req.stride, req.stride] as [number, number], networkStride: [4, 4] as [number, number] } : {}),
    }),
  };
}

function setup() {
  const api = fakeApi();
  api.loadModel.mockImplementation(async (req: LoadModelRequest) => answer(req));
  const pinia = piniaWith(api);
  const global = { plugins: [pinia], provide: { [API_KEY as symbol]: api } };
  const panel = mount(ModelPanel, { global });
  const scales = mount(ScalesPanel, { global });
  useScoresStore();
  return { api, panel, scales };
}

describe('the model panel\'s output choice and "Labels…" (issue 9)', () => {
  it('lists a multi-output model\'s outputs, offers only the convertible ones, and reloads at the one chosen, keeping the detail', async () => {
    const { api, panel, scales } = setup();
    await useSessionStore().start();
    await settle();
    const select = panel.get('[data-testid="outputs"] select');
    expect(select.findAll('option').map((o) => [o.text(), o.attributes('disabled') !== undefined])).toEqual([
      ['mask [5×5×1] spatial', true], ['gender [2] classes', false], ['age [3] classes', false],
    ]);
    expect((select.element as HTMLSelectElement).value).toBe('gender');
    expect(api.computeScores).toHaveBeenCalledTimes(1);

    // A finer detail first: choosing another output keeps it.
    await scales.get('[data-detail="2"]').trigger('click');
    await settle();
    expect(api.loadModel).toHaveBeenLastCalledWith({ jobId: expect.stringMatching(/^load-model:/), path: null, stride: 2 });
    await select.setValue('age');
    await settle();
    expect(api.loadModel).toHaveBeenLastCalledWith({ jobId: expect.stringMatching(/^load-model:/), path: null, stride: 2, output: 'age' });
    const m = useModelStore();
    expect([m.model?.id, m.labels]).toEqual(['m-age-s2', ['age 0', 'age 1', 'age 2']]);
    expect(api.computeScores.mock.calls.at(-1)?.[0].modelId).toBe('m-age-s2');
    // And the detail keeps the output chosen.
    await scales.get('[data-detail="1"]').trigger('click');
    await settle();
    expect(api.loadModel).toHaveBeenLastCalledWith({ jobId: expect.stringMatching(/^load-model:/), path: null, stride: 4, output: 'age' });
  });

  it('shows no output choice for a model with one output', async () => {
    const api = fakeApi();
    const pinia = piniaWith(api);
    const panel = mount(ModelPanel, { global: { plugins: [pinia], provide: { [API_KEY as symbol]: api } } });
    await useModelStore().load(null);
    await settle();
    expect(panel.find('[data-testid="outputs"]').exists()).toBe(false);
    expect(panel.find('button[aria-label="Choose a label file"]').exists()).toBe(true);
  });

  it('"Labels…" asks main\'s dialog, then reloads the model with the file at the same output; a cancelled dialog changes nothing', async () => {
    const { api, panel } = setup();
    await useSessionStore().start();
    await settle();
    await panel.get('[data-testid="outputs"] select').setValue('age');
    await settle();
    const loads = api.loadModel.mock.calls.length;

    const button = panel.get('button[aria-label="Choose a label file"]');
    await button.trigger('click');
    await settle();
    expect(api.openLabelsDialog).toHaveBeenCalledTimes(1);
    expect(api.loadModel.mock.calls.length).toBe(loads);

    api.openLabelsDialog.mockResolvedValueOnce('/labels/ages.txt');
    await button.trigger('click');
    await settle();
    expect(api.loadModel).toHaveBeenLastCalledWith({ jobId: expect.stringMatching(/^load-model:/), path: null, output: 'age', labelsFile: '/labels/ages.txt' });
    expect(useModelStore().labels).toEqual(['from file 0', 'from file 1', 'from file 2']);
    expect(panel.text()).toContain('ages.txt');

    // Another output has other classes: the label file is not carried over.
    await panel.get('[data-testid="outputs"] select').setValue('gender');
    await settle();
    expect(api.loadModel).toHaveBeenLastCalledWith({ jobId: expect.stringMatching(/^load-model:/), path: null, output: 'gender' });
  });

  it('shows main\'s refusal of a label file as the model error, keeping the model in use', async () => {
    const { api, panel } = setup();
    await useSessionStore().start();
    await settle();
    api.openLabelsDialog.mockResolvedValueOnce('/labels/two.txt');
    api.loadModel.mockRejectedValueOnce(new Error("/labels/two.txt: holds 2 label(s), but the model's output has 3 class(es): one label per class, in class order"));
    await panel.get('button[aria-label="Choose a label file"]').trigger('click');
    await settle();
    expect(useModelStore().model?.id).toBe('m-gender');
    expect(panel.get('[data-testid="model-error"]').text()).toContain('two.txt: holds 2 label(s)');
  });
});

describe('the model panel\'s own mean / std (torchvision\'s Normalize)', () => {
  it('asks main for the canonical normalize: mode typed, shows it as the model\'s entry, and refuses a bad one in a line without asking main', async () => {
    const { api, panel } = setup();
    await useSessionStore().start();
    await settle();
    const select = panel.get('select#preprocess');
    expect(select.findAll('option').map((o) => o.attributes('value'))).toEqual(['raw', 'unit', 'signed', 'inverted', 'ink', 'imagenet', 'caffe', 'normalize…']);
    await select.setValue('normalize…');
    const field = panel.get('input#normalize');
    await field.setValue('0.5/0');
    await panel.get('input#normalize + button').trigger('click');
    await settle();
    expect(api.setPreprocess).not.toHaveBeenCalled();
    expect(panel.get('[role="alert"]').text()).toBe('"normalize:0.5/0": a std outside 0.000001–1000; expected normalize:MEAN/STD (of x / 255, one value or three R,G,B values each)');

    await field.setValue('0.13070 / .3081');
    await field.trigger('keydown', { key: 'Enter' });
    await settle();
    expect(api.setPreprocess).toHaveBeenCalledTimes(1);
    expect(api.setPreprocess.mock.calls[0][0]).toMatchObject({ preprocess: 'normalize:0.1307/0.3081' });
    expect(panel.find('input#normalize').exists()).toBe(false);
    expect(panel.find('[role="alert"]').exists()).toBe(false);
    const after = panel.get('select#preprocess');
    expect((after.element as HTMLSelectElement).value).toBe('normalize:0.1307/0.3081');
    expect(after.findAll('option').map((o) => o.text())).toContain('normalize:0.1307/0.3081 — (x / 255 − mean) / std');
    expect(useModelStore().model?.info.preprocess).toBe('normalize:0.1307/0.3081');
  });
});
