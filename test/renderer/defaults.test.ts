// @vitest-environment happy-dom
/**
 * The window's defaults (issue 12 items 2, 3, 4, 6): the class resets on every model change to the
 * default rule, background never leads a ranking, scales come from the model's window and the
 * photo, and a scale without cells says so.
 */
import { mount } from '@vue/test-utils';
import { beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_RECIPE } from '../../core/recipe';
import { API_KEY } from '../../renderer/api';
import HeatmapPanel from '../../renderer/components/HeatmapPanel.vue';
import ModelPanel from '../../renderer/components/ModelPanel.vue';
import ScalesPanel from '../../renderer/components/ScalesPanel.vue';
import { useBatchStore } from '../../renderer/stores/batch';
import { useModelStore } from '../../renderer/stores/model';
import { useScoresStore } from '../../renderer/stores/scores';
import { useSessionStore } from '../../renderer/stores/session';
import { useViewStore } from '../../renderer/stores/view';
import type { ComputeScoresRequest } from '../../core/api';
import { cellCount } from '../../core/scoremap';
import { fakeApi, fakeMap, modelInfo, piniaWith, settle, MODEL, startAtScales } from './fake-api';

/** A model without a background label, window 16×16 (the fake maps are 3 classes). */
const PLAIN = { ...MODEL, id: 'plain', path: '/models/abc/model.json', name: 'abc', info: modelInfo({ labels: ['A', 'B', 'C'], window: [16, 16] }) };
/** A model whose 64-px window does not fit the 40×40 photo at scale 1. */
const BIG = { ...MODEL, id: 'big', path: '/models/big/model.json', name: 'big', info: modelInfo({ window: [64, 64] }) };

describe('window defaults', () => {
  let api: ReturnType<typeof fakeApi>;
  beforeEach(() => {
    api = fakeApi();
    api.loadModel.mockImplementation(async (req: { path: string | null }) => (req.path === PLAIN.path ? PLAIN : req.path === BIG.path ? BIG : MODEL));
    piniaWith(api);
  });

  it('draws with core\'s shared defaults', () => {
    const view = useViewStore();
    const scores = useScoresStore();
    expect([view.threshold, view.opacity, view.colormap, view.showDetections, view.detectThreshold, scores.mode])
      .toEqual([DEFAULT_RECIPE.threshold, DEFAULT_RECIPE.opacity, DEFAULT_RECIPE.colormap, DEFAULT_RECIPE.boxes, DEFAULT_RECIPE.detectThreshold, DEFAULT_RECIPE.mode]);
    // The legend is on in the window and its exports, as in the CLI (test/cli/args.test.ts).
    expect([view.legend, useBatchStore().legend]).toEqual([true, true]);
  });

  it('resets the class on a model change: "any" with a background label, else the photo\'s top class', async () => {
    const view = useViewStore();
    const model = useModelStore();
    await useSessionStore().start();
    await settle();
    expect(view.classChoice).toBe('any');
    view.classChoice = 1;
    await model.load(PLAIN.path);
    await settle();
    expect(view.classChoice).toBe('top');
    // Without a background class the default view is the class map (every cell names some class).
    expect(view.view).toBe('classes');
    expect(view.classTitle).toBe('class map');
    view.view = 'absolute';
    // 'top' is the ranking's first class, named as such.
    const top = useScoresStore().ranking[0];
    expect(view.drawnClass).toBe(top.classIndex);
    expect(view.classTitle).toBe(`top class: ${top.label}`);
    view.classChoice = 0;
    await model.load(null);
    await settle();
    expect(view.classChoice).toBe('any');
  });

  it('never ranks background first, in the class list or under the pointer', async () => {
    const scores = useScoresStore();
    const view = useViewStore();
    // Scale 3 scores cat 0.2, dog 0.2, background 0.6.
    await startAtScales('3');
    expect(scores.ranking.map((r) => r.label)).toEqual(['cat', 'dog', 'background']);
    view.setPointer(20, 20);
    expect(view.hover?.top.map((t) => t.label)).toEqual(['cat', 'dog', 'background']);
  });

  it('computes the demo\'s scales for the demo, and scales from the window and photo for another model', async () => {
    const scores = useScoresStore();
    await useSessionStore().start();
    await settle();
    expect(api.computeScores.mock.calls[0][0].scales).toEqual([0.5, 2 / 3, 1]);
    await useModelStore().load(PLAIN.path);
    await settle();
    expect(scores.presetId).toBe('auto');
    // 16 window on 40×40: objects from the 40-px photo (16/40 = 0.4) down to the window at scale 1 (16 px > 40/20);
    // ln 2.5 / ln 2^(1/3) = 3.97 → 4 steps of 2.5^(1/4) = 1.25743: 0.50297, 0.63246, 0.79527.
    expect(scores.requested).toEqual([0.4, 0.503, 0.632, 0.795, 1]);
    expect(api.computeScores.mock.calls.at(-1)?.[0]).toMatchObject({ modelId: 'plain', scales: [0.4, 0.503, 0.632, 0.795, 1] });
  });

  it('says which scales give no cells, and that the photo has none at all', async () => {
    const pinia = piniaWith(api);
    const opts = { global: { plugins: [pinia], provide: { [API_KEY as symbol]: api } } };
    const scalesPanel = mount(ScalesPanel, opts);
    const heat = mount(HeatmapPanel, opts);
    const scores = useScoresStore();
    // The real engine's answer for a 64-px window: cells only where the scaled photo holds the window.
    api.computeScores.mockImplementation(async (req: ComputeScoresRequest) => ({
      jobId: req.jobId, photoId: req.photoId, modelId: req.modelId, elapsedMs: 1,
      maps: req.scales.map((sc) => {
        const m = fakeMap(sc);
        const n = req.modelId === BIG.id ? cellCount(m.scaledSize[0], 64, 4) : m.rows;
        return n === m.rows ? m : { ...m, rows: n, cols: n, scores: new Float32Array(n * n * 3) };
      }),
    }));
    scores.setCustom('1');
    await useSessionStore().start();
    await useModelStore().load(BIG.path);
    await settle();
    scores.setCustom('1, 2');
    await settle();
    // 40 px < 64 px at scale 1; 80 px at scale 2 fits.
    expect(scalesPanel.get('[data-testid="empty-scales"]').text()).toMatch(/^No cells at ×1: the photo is smaller than the model's 64×64 window there\./);
    scores.setCustom('1');
    await settle();
    await scalesPanel.vm.$nextTick();
    expect(heat.find('[data-testid="no-cells"]').exists()).toBe(true);
    expect(heat.findAll('[data-testid="classes"] [role="option"]').map((r) => r.attributes('data-class'))).toEqual(['any', 'top']);
  });

  it('names tfjs models by folder in the recents, and offers the built-in model back once another is open', async () => {
    const pinia = piniaWith(api);
    const panel = mount(ModelPanel, { global: { plugins: [pinia], provide: { [API_KEY as symbol]: api } } });
    await useSessionStore().start();
    await useModelStore().load(PLAIN.path);
    await settle();
    const items = panel.findAll('[data-testid="recent-models"] button');
    // The fake recents hold /models/pets/model.json.
    expect(items.map((b) => b.text())).toEqual(['Built-in digits', 'pets']);
    await items[0].trigger('click');
    await settle();
    expect(api.loadModel).toHaveBeenLastCalledWith({ jobId: expect.stringMatching(/^load-model:/), path: null });
    expect(panel.findAll('[data-testid="recent-models"] button').map((b) => b.text())).toEqual(['pets']);
  });
});
