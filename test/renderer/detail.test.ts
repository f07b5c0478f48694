// @vitest-environment happy-dom
import { mount } from '@vue/test-utils';
import { describe, expect, it } from 'vitest';
import { API_KEY } from '../../renderer/api';
import ScalesPanel from '../../renderer/components/ScalesPanel.vue';
import { useModelStore } from '../../renderer/stores/model';
import { useScoresStore } from '../../renderer/stores/scores';
import { useSessionStore } from '../../renderer/stores/session';
import { fakeApi, MODEL, modelInfo, piniaWith, settle } from './fake-api';

describe('the scale panel\'s detail choice (cells at the network stride, ½, ¼)', () => {
  it('reloads the model with stride 2 when "½" is chosen, marks it, and computes the photo again with the new model', async () => {
    const api = fakeApi();
    // Main answers a load with a stride as the à trous rewrite does: finer stride, network stride kept.
    api.loadModel.mockImplementation(async (req: { path: string | null; stride?: number }) => (req.stride === undefined || req.stride === 4
      ? MODEL
      : { ...MODEL, id: `m-s${req.stride}`, info: modelInfo({ stride: [req.stride, req.stride], networkStride: [4, 4] }) }));
    const pinia = piniaWith(api);
    const w = mount(ScalesPanel, { global: { plugins: [pinia], provide: { [API_KEY as symbol]: api } } });
    useScoresStore();
    await useSessionStore().start();
    await settle();
    const labels = w.findAll('[data-detail]').map((b) => b.text());
    expect(labels).toEqual(['4 px', '½ · 2 px', '¼ · 1 px']);
    expect(w.get('[data-detail="1"]').attributes('aria-pressed')).toBe('true');
    expect(api.computeScores).toHaveBeenCalledTimes(1);

    await w.get('[data-detail="2"]').trigger('click');
    await settle();
    expect(api.loadModel).toHaveBeenLastCalledWith({ jobId: expect.stringMatching(/^load-model:/), path: null, stride: 2 });
    expect(useModelStore().model?.info.stride).toEqual([2, 2]);
    expect(w.get('[data-detail="2"]').attributes('aria-pressed')).toBe('true');
    expect(w.get('[data-detail="1"]').attributes('aria-pressed')).toBe('false');
    expect(api.computeScores).toHaveBeenCalledTimes(2);
    expect(api.computeScores.mock.calls[1][0].modelId).toBe('m-s2');

    // Back to the network's stride: asked for explicitly (a saved finer model cannot go coarser and says so).
    await w.get('[data-detail="1"]').trigger('click');
    await settle();
    expect(api.loadModel).toHaveBeenLastCalledWith({ jobId: expect.stringMatching(/^load-model:/), path: null, stride: 4 });
    expect(w.get('[data-detail="1"]').attributes('aria-pressed')).toBe('true');
  });

  it('offers no choice for a network of stride 1', async () => {
    const api = fakeApi();
    api.loadModel.mockImplementation(async () => ({ ...MODEL, info: modelInfo({ stride: [1, 1] }) }));
    const pinia = piniaWith(api);
    const w = mount(ScalesPanel, { global: { plugins: [pinia], provide: { [API_KEY as symbol]: api } } });
    await useModelStore().load(null);
    await settle();
    expect(w.findAll('[data-detail]')).toHaveLength(0);
  });
});
