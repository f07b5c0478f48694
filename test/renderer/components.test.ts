// @vitest-environment happy-dom
import { mount } from '@vue/test-utils';
import { describe, expect, it } from 'vitest';
import type { Component } from 'vue';
import { BOX_RULE, SEEN_PAINT_RULE, SEEN_RULE } from '../../core/detect';
import { API_KEY } from '../../renderer/api';
import ConversionReport from '../../renderer/components/ConversionReport.vue';
import HeatmapPanel from '../../renderer/components/HeatmapPanel.vue';
import ScalesPanel from '../../renderer/components/ScalesPanel.vue';
import StatusBar from '../../renderer/components/StatusBar.vue';
import { useModelStore } from '../../renderer/stores/model';
import { useScoresStore } from '../../renderer/stores/scores';
import { useSessionStore } from '../../renderer/stores/session';
import { useViewStore } from '../../renderer/stores/view';
import { fakeApi, MODEL, modelInfo, piniaWith, settle, startAtScales } from './fake-api';

/** Mounts a component whose stores get the fake API. */
function mountWith(component: Component, api: ReturnType<typeof fakeApi>) {
  const pinia = piniaWith(api);
  return mount(component, { global: { plugins: [pinia], provide: { [API_KEY as symbol]: api } } });
}

describe('renderer components', () => {
  it('the conversion report says "exact" with the measured difference for a valid-padding model', () => {
    const w = mount(ConversionReport, { props: { info: modelInfo(), backend: { backend: 'wasm', workers: 2 } } });
    const eq = w.get('[data-testid="equivalence"]').text();
    expect(eq).toContain('exact');
    expect(eq).toContain('2.4e-7');
    expect(w.text()).toContain('8×8 px');
    expect(w.text()).toContain('wasm · 2 workers');
  });

  it('the conversion report names ONNX Runtime with its device and threads, and why faster devices were not used', () => {
    const w = mount(ConversionReport, { props: { info: modelInfo(), backend: { backend: 'onnx', workers: 2, device: 'cpu', notes: ['onnx device cuda: not installed'] } } });
    expect(w.text()).toContain('ONNX Runtime on cpu · 2 threads');
    expect(w.find('[title="not used: onnx device cuda: not installed"]').exists()).toBe(true);
  });

  it('the conversion report says when a GPU provider failed on the model and the CPU runs it, with the reason in its tooltip', () => {
    const why = 'cuda could not open the model (out of memory): it runs on the CPU';
    const w = mount(ConversionReport, { props: { info: modelInfo(), backend: { backend: 'onnx', workers: 2, device: 'cuda', notes: [], deviceFallbacks: [why] } } });
    expect(w.text()).toContain('ONNX Runtime on cpu (cuda failed) · 2 threads');
    expect(w.find(`[title="${why}"]`).exists()).toBe(true);
  });

  it('the conversion report grades a not-exact conversion, with the difference, the note and one plain sentence', () => {
    const info = modelInfo({
      padding: 'same',
      equivalence: { maxAbsDiff: 0.031, maxRelDiff: 0.042, cellsChecked: 16, inputSize: [64, 64], exact: false, note: "'same' padding: crops see zeros at their border" },
    });
    const w = mount(ConversionReport, { props: { info, backend: null } });
    const eq = w.get('[data-testid="equivalence"]').text();
    expect(eq).not.toContain('exact');
    expect(eq).toContain('3.1e-2');
    expect(eq).toContain('4.20%');
    expect(eq).toContain("crops see zeros");
    // No mismatch share measured: nothing shows it is closer than approximate.
    expect(w.get('[data-testid="grade"] .badge').attributes('data-grade')).toBe('approximate');
  });

  it('the grade tells 0.05 % from 30 % and 57.7 % of cells with another top class, in colour and one sentence', () => {
    const eqOf = (topClassMismatch: number, meanRelDiff: number) => ({
      maxAbsDiff: 0.2, maxRelDiff: 0.3, cellsChecked: 2000, inputSize: [64, 64] as [number, number], exact: false, meanAbsDiff: 0.01, meanRelDiff, topClassMismatch,
    });
    const close = mount(ConversionReport, { props: { info: modelInfo({ padding: 'same', equivalence: eqOf(0.0005, 0.004) }), backend: null } });
    const far = mount(ConversionReport, { props: { info: modelInfo({ padding: 'same', equivalence: eqOf(0.3, 0.12) }), backend: null } });
    const unlike = mount(ConversionReport, { props: { info: modelInfo({ padding: 'same', equivalence: eqOf(0.577, 0.12) }), backend: null } });
    const exact = mount(ConversionReport, { props: { info: modelInfo(), backend: null } });
    expect(close.get('[data-testid="grade"] .badge').classes()).toContain('close');
    expect(close.get('[data-testid="grade"] .sentence').text()).toBe("The heatmap is close to the classifier on each window: the top class differs from a crop's on only 0.05% of cells.");
    expect(far.get('[data-testid="grade"] .badge').classes()).toContain('approximate');
    expect(far.get('[data-testid="grade"] .sentence').text()).toBe("The heatmap only approximates the classifier: the top class differs from a crop's on 30.0% of cells; read it as indicative.");
    // More than half the cells: the map does not represent the classifier, and says so plainly.
    expect(unlike.get('[data-testid="grade"] .badge').classes()).toContain('not-representative');
    expect(unlike.get('[data-testid="grade"] .sentence').text()).toBe("NOT REPRESENTATIVE: the top class differs from a crop's on 57.7% of cells. The heatmap does not show what the classifier sees.");
    expect(exact.get('[data-testid="grade"] .badge').classes()).toContain('exact');
  });

  it('the class list is sorted by each class\'s strongest score, background last, after "any" and "top class"', async () => {
    const api = fakeApi();
    const w = mountWith(HeatmapPanel, api);
    await startAtScales('0.5');
    const rows = w.findAll('[data-testid="classes"] [role="option"]');
    // Scale 0.5 scores dog 0.7, background 0.2, cat 0.1: background goes after cat all the same.
    expect(rows.map((r) => r.find('.label').text())).toEqual(['any (not background)', 'top class: dog', 'dog', 'cat', 'background']);
    expect(rows.map((r) => r.find('.score').text())).toEqual(['0.700', '0.700', '0.700', '0.100', '0.200']);
    await rows[3].trigger('click');
    expect(useViewStore().classChoice).toBe(0);
    expect(rows[3].attributes('aria-selected')).toBe('true');
  });

  it('the Boxes control says which box rule applies: BOX_RULE for a model with a background class', async () => {
    const w = mountWith(HeatmapPanel, fakeApi());
    await startAtScales('0.5');
    expect(w.get('label[for="detections"]').attributes('title')).toBe(BOX_RULE);
    expect(BOX_RULE).not.toBe(SEEN_RULE);
  });

  it('under the view choice, a model without a background class says where its map is drawn (SEEN_RULE) and at which windows (SEEN_PAINT_RULE)', async () => {
    const api = fakeApi();
    const plain = { ...MODEL, id: 'plain', path: '/models/abc/model.json', info: modelInfo({ labels: ['A', 'B', 'C'] }) };
    api.loadModel.mockImplementation(async (req: { path: string | null }) => (req.path === plain.path ? plain : MODEL));
    const w = mountWith(HeatmapPanel, api);
    await startAtScales('0.5');
    expect(w.get('[data-testid="view-help"]').attributes('title')).toBeUndefined();
    await useModelStore().load(plain.path);
    await settle();
    expect(w.get('[data-testid="view-help"]').attributes('title')).toBe(`${SEEN_RULE} ${SEEN_PAINT_RULE}`);
  });

  it('toggling a scale chip changes the average and does not compute again', async () => {
    const api = fakeApi();
    const w = mountWith(ScalesPanel, api);
    const scores = useScoresStore();
    await startAtScales('0.5, 1');
    const before = scores.averaged;
    await w.get('[data-scale="0.5"]').trigger('click');
    expect(w.get('[data-scale="0.5"]').attributes('aria-pressed')).toBe('false');
    expect(scores.averaged).not.toBe(before);
    expect(scores.keptMaps.map((m) => m.scale)).toEqual([1]);
    await settle();
    expect(api.computeScores).toHaveBeenCalledTimes(1);
  });

  it('the auto preset says what it chose for this photo where the scales are listed; other presets do not', async () => {
    const api = fakeApi();
    const w = mountWith(ScalesPanel, api);
    const scores = useScoresStore();
    await startAtScales('0.5, 1');
    expect(w.find('[data-testid="scale-plan"]').exists()).toBe(false);
    scores.setPreset('auto');
    await settle();
    // A 40×40 photo and an 8×8 window: from 8/40 = 0.2 (one window fills the photo) up to 1 (objects of
    // the window's 8 px, over 1/20 of the side), ⌈ln 5 / ln 2^⅓⌉ = 7 steps of 5^(1/7) ≈ 1.26: 8 scales.
    expect(w.get('[data-testid="scale-plan"]').text()).toBe('auto: 8 scales 0.2–1 (×1.26) for objects of 40–8 px');
  });

  it('the status bar names what runs the model (ONNX Runtime, its device and threads) with the passed-over devices as its tooltip', async () => {
    const api = fakeApi();
    api.backendInfo.mockImplementation(async () => ({ backend: 'onnx' as const, workers: 16, device: 'cuda', notes: ['onnx device dml: not on linux'] }) as never);
    const w = mountWith(StatusBar, api);
    void useSessionStore().start();
    await settle();
    const el = w.get('[data-testid="backend"]');
    expect(el.text()).toBe('ONNX Runtime on cuda · 16 threads');
    expect(el.attributes('title')).toBe('not used: onnx device dml: not on linux');
  });

  it('the Cancel button of a running job calls api.cancel with its job id', async () => {
    const api = fakeApi({ hold: new Promise<void>(() => undefined) });
    const w = mountWith(StatusBar, api);
    useScoresStore();
    void useSessionStore().start();
    await settle();
    const jobId = api.computeScores.mock.calls[0][0].jobId;
    const button = w.get(`[data-job="${jobId}"] button`);
    expect(button.attributes('aria-label')).toMatch(/^Cancel /);
    await button.trigger('click');
    await settle();
    expect(api.cancel).toHaveBeenCalledWith(jobId);
    expect(w.text()).toContain('Ready');
  });
});
