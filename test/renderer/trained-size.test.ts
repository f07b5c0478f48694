// @vitest-environment happy-dom
import { mount } from '@vue/test-utils';
import { describe, expect, it } from 'vitest';
import type { LoadModelRequest } from '../../core/api';
import { FREE_INPUT_SIZE } from '../../core/model-info';
import { API_KEY } from '../../renderer/api';
import ModelPanel from '../../renderer/components/ModelPanel.vue';
import { useModelStore } from '../../renderer/stores/model';
import { fakeApi, MODEL, modelInfo, piniaWith, settle } from './fake-api';

/**
 * The window's "Trained at" field (issue 23: inputs without a fixed size): a model saved as
 * [null, null, 3] is refused by main until a size is given (main's words: main/model/input-size.ts);
 * the model panel then offers the field, and opening with it sends `window` in the load request,
 * kept when the model in use is reloaded (labels, output, detail).
 */

const FREE = '/models/transfer_resnet.keras';

function setup() {
  const api = fakeApi();
  api.loadModel.mockImplementation(async (req: LoadModelRequest) => {
    if (req.path === FREE && req.window === undefined) {
      throw new Error(`Error invoking remote method 'convmap:load-model': Error: ${FREE}: ${FREE_INPUT_SIZE} ([null, null, null, 3]): give the size it was trained at (--window N)`);
    }
    if (req.path === '/models/broken.keras') throw new Error('/models/broken.keras: is not a Keras model config (no class_name)');
    const w = req.window ?? 8;
    return { ...MODEL, id: `m-${w}${req.labelsFile ? '-l' : ''}`, path: req.path, name: 'transfer_resnet.keras', info: modelInfo({ window: [w, w], ...(req.labelsFile ? { labelsFile: req.labelsFile } : {}) }) };
  });
  const pinia = piniaWith(api);
  const panel = mount(ModelPanel, { global: { plugins: [pinia], provide: { [API_KEY as symbol]: api } } });
  return { api, panel, store: useModelStore() };
}

describe('the model panel\'s "Trained at" field for models without a fixed input size', () => {
  it('appears when main refuses a model for its free input size, opens it at the size typed, and keeps that size on reloads', async () => {
    const { api, panel, store } = setup();
    expect(panel.find('[data-testid="trained-size"]').exists()).toBe(false);
    await store.load(FREE);
    await settle();
    expect(panel.get('[data-testid="model-error"]').text()).toContain(FREE_INPUT_SIZE);
    const form = panel.get('[data-testid="trained-size"]');
    const button = form.get('button');
    expect(button.text()).toBe('Open');
    // Nothing typed yet, then a size main would refuse: no request.
    expect(button.attributes('disabled')).toBeDefined();
    await form.get('input').setValue('4');
    expect(button.attributes('disabled')).toBeDefined();
    await form.get('input').setValue('64');
    expect(button.attributes('disabled')).toBeUndefined();
    await form.trigger('submit');
    await settle();
    expect(api.loadModel).toHaveBeenLastCalledWith({ jobId: expect.stringMatching(/^load-model:/), path: FREE, window: 64 });
    expect(store.model?.info.window).toEqual([64, 64]);
    expect(store.error).toBeNull();
    expect(store.sizeNeeded).toBeNull();
    // The model in use was given its size: the field stays, to reopen at another.
    expect(panel.get('[data-testid="trained-size"] button').text()).toBe('Reopen');
    expect((panel.get('#trained-size').element as HTMLInputElement).value).toBe('64');

    // A label file reloads the model with the size it was opened at.
    api.openLabelsDialog.mockResolvedValueOnce('/models/labels.txt');
    await store.chooseLabels();
    await settle();
    expect(api.loadModel).toHaveBeenLastCalledWith({ jobId: expect.stringMatching(/^load-model:/), path: FREE, labelsFile: '/models/labels.txt', window: 64 });

    // Reopening at another size keeps the label file.
    await panel.get('#trained-size').setValue('96');
    await panel.get('[data-testid="trained-size"]').trigger('submit');
    await settle();
    expect(api.loadModel).toHaveBeenLastCalledWith({ jobId: expect.stringMatching(/^load-model:/), path: FREE, labelsFile: '/models/labels.txt', window: 96 });
    expect(store.model?.info.window).toEqual([96, 96]);
  });

  it('does not appear for other refusals, nor for models with a fixed size', async () => {
    const { panel, store } = setup();
    await store.load('/models/broken.keras');
    await settle();
    expect(panel.get('[data-testid="model-error"]').text()).toContain('no class_name');
    expect(panel.find('[data-testid="trained-size"]').exists()).toBe(false);
    await store.load(null);
    await settle();
    expect(store.model?.path).toBeNull();
    expect(panel.find('[data-testid="trained-size"]').exists()).toBe(false);
  });
});
