// @vitest-environment happy-dom
/**
 * The window's UX items of issue 12: the class list says what it leaves out (14), keyboard
 * shortcuts (15), zoom controls and pixelated view (10), the photo strip tells same-named files apart
 * (16), remembered settings (18), a conversion shows its stage and Cancel with the old report dimmed (8).
 */
import { mount } from '@vue/test-utils';
import { beforeEach, describe, expect, it } from 'vitest';
import type { ComputeScoresRequest, ModelSummary } from '../../core/api';
import type { ScoreMap } from '../../core/scoremap';
import { API_KEY } from '../../renderer/api';
import App from '../../renderer/App.vue';
import HeatmapPanel from '../../renderer/components/HeatmapPanel.vue';
import ModelPanel from '../../renderer/components/ModelPanel.vue';
import PhotoStrip from '../../renderer/components/PhotoStrip.vue';
import PhotoView from '../../renderer/components/PhotoView.vue';
import { useModelStore } from '../../renderer/stores/model';
import { usePhotosStore } from '../../renderer/stores/photos';
import { useScoresStore } from '../../renderer/stores/scores';
import { useSessionStore } from '../../renderer/stores/session';
import { useViewStore } from '../../renderer/stores/view';
import { fakeApi, fakeMap, modelInfo, piniaWith, settle, MODEL, PHOTO, startAtScales } from './fake-api';

type Api = ReturnType<typeof fakeApi>;
function mountWith(component: Parameters<typeof mount>[0], api: Api, attachTo?: HTMLElement) {
  const pinia = piniaWith(api);
  return mount(component, { attachTo, global: { plugins: [pinia], provide: { [API_KEY as symbol]: api } } });
}

/** A 250-class model: class k scores (k + 1) / 1000 everywhere, so the ranking is 249, 248, … */
const MANY_LABELS = Array.from({ length: 250 }, (_, k) => `sym${k}`);
const MANY: ModelSummary = { ...MODEL, id: 'many', path: '/m/symbols/model.json', name: 'symbols', info: modelInfo({ labels: MANY_LABELS }) };
function manyMap(scale: number): ScoreMap {
  const m = fakeMap(scale);
  const scores = new Float32Array(m.rows * m.cols * 250);
  for (let c = 0; c < m.rows * m.cols; c++) for (let k = 0; k < 250; k++) scores[c * 250 + k] = (k + 1) / 1000;
  return { ...m, classes: 250, scores };
}

describe('the window', () => {
  let api: Api;
  beforeEach(() => {
    api = fakeApi();
  });

  it('says how many classes the list leaves out, and when a filter matches none', async () => {
    api.loadModel.mockImplementation(async () => MANY);
    api.computeScores.mockImplementation(async (req: ComputeScoresRequest) => ({ jobId: req.jobId, photoId: req.photoId, modelId: req.modelId, elapsedMs: 1, maps: req.scales.map(manyMap) }));
    const w = mountWith(HeatmapPanel, api);
    await useSessionStore().start();
    await settle();
    // 250 classes, 200 listed: 50 more.
    expect(w.findAll('[data-testid="classes"] [role="option"][data-class]').filter((r) => /^\d+$/.test(r.attributes('data-class') ?? ''))).toHaveLength(200);
    expect(w.get('[data-testid="more-classes"]').text()).toBe('50 more — type to filter');
    await w.get('input.filter').setValue('sym24');
    // sym24 and sym240…sym249: 11, all listed.
    expect(w.find('[data-testid="more-classes"]').exists()).toBe(false);
    expect(w.findAll('[data-testid="classes"] [role="option"][data-class]').filter((r) => /^\d+$/.test(r.attributes('data-class') ?? ''))).toHaveLength(11);
    await w.get('input.filter').setValue('zebra');
    expect(w.get('[data-testid="no-match"]').text()).toBe('no match for “zebra”');
  });

  it('keys: ] and [ step through the classes, H hides the overlay while held, ? shows the shortcuts, Esc closes them', async () => {
    const host = document.createElement('div');
    document.body.appendChild(host);
    const w = mountWith(App, api, host);
    await settle();
    const view = useViewStore();
    const scores = useScoresStore();
    expect(view.classChoice).toBe('any');
    window.dispatchEvent(new KeyboardEvent('keydown', { key: ']' }));
    expect(view.classChoice).toBe('top');
    window.dispatchEvent(new KeyboardEvent('keydown', { key: ']' }));
    expect(view.classChoice).toBe(scores.ranking[0].classIndex);
    window.dispatchEvent(new KeyboardEvent('keydown', { key: '[' }));
    expect(view.classChoice).toBe('top');
    window.dispatchEvent(new KeyboardEvent('keydown', { key: 'h' }));
    expect(view.overlayHidden).toBe(true);
    window.dispatchEvent(new KeyboardEvent('keyup', { key: 'h' }));
    expect(view.overlayHidden).toBe(false);
    window.dispatchEvent(new KeyboardEvent('keydown', { key: '?' }));
    await w.vm.$nextTick();
    expect(w.get('[data-testid="shortcuts"]').text()).toContain('Keyboard shortcuts');
    window.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape' }));
    await w.vm.$nextTick();
    expect(w.find('[data-testid="shortcuts"]').exists()).toBe(false);
    w.unmount();
  });

  it('Esc cancels a running computation', async () => {
    let release: () => void = () => undefined;
    api = fakeApi({ hold: new Promise<void>((r) => (release = r)) });
    const host = document.createElement('div');
    document.body.appendChild(host);
    const w = mountWith(App, api, host);
    await settle();
    const jobId = api.computeScores.mock.calls[0][0].jobId;
    window.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape' }));
    await settle();
    expect(api.cancel).toHaveBeenCalledWith(jobId);
    release();
    w.unmount();
  });

  it('zoom controls: 100 % and + / −, with the photo drawn as pixels above 200 %', async () => {
    const w = mountWith(PhotoView, api);
    await useSessionStore().start();
    await settle();
    await w.get('[data-zoom="100"]').trigger('click');
    expect(w.get('[data-testid="zoom-badge"]').text()).toMatch(/^100% · /);
    expect(w.get('[data-testid="stage"]').classes()).not.toContain('pixelated');
    for (let i = 0; i < 4; i++) await w.get('[data-zoom="in"]').trigger('click');
    // 1.25⁴ = 2.44
    expect(w.get('[data-testid="zoom-badge"]').text()).toMatch(/^244% · /);
    expect(w.get('[data-testid="stage"]').classes()).toContain('pixelated');
    await w.get('[data-zoom="out"]').trigger('click');
    expect(w.get('[data-testid="zoom-badge"]').text()).toMatch(/^195% · /);
  });

  it('the strip names the folder of photos that share a file name', async () => {
    const w = mountWith(PhotoStrip, api);
    const photos = usePhotosStore();
    photos.take({ photos: [{ ...PHOTO, id: 'a', path: '/trip/day1/IMG_1.jpg', name: 'IMG_1.jpg' }, { ...PHOTO, id: 'b', path: '/trip/day2/IMG_1.jpg', name: 'IMG_1.jpg' }, { ...PHOTO, id: 'c', path: '/trip/day2/IMG_2.jpg', name: 'IMG_2.jpg' }], failed: [] });
    await settle();
    expect(w.findAll('button.thumb .name').map((n) => n.text())).toEqual(['IMG_1.jpg · day1/', 'IMG_1.jpg · day2/', 'IMG_2.jpg']);
  });

  it('the strip marks each photo\'s queue status with a glyph, its name in words and a tooltip line, and only the selected photo as current', async () => {
    const w = mountWith(PhotoStrip, api);
    await useModelStore().load(null);
    void useSessionStore().openDropped([{ file: new File(['x'], 'day1'), isDirectory: true }, { file: new File(['x'], 'day2'), isDirectory: true }, { file: new File(['x'], 'day3'), isDirectory: true }]);
    await settle();
    const req = api.runBatch.mock.calls[0][0];
    const ids = req.photoIds as string[];
    expect(ids).toHaveLength(6);
    const events = [
      { status: 'done', classLabel: 'paper', cached: true },
      { status: 'failed', reason: 'truncated JPEG' },
      { status: 'running' },
      { status: 'no cells' },
      { status: 'skipped', reason: 'cancelled' },
    ] as const;
    events.forEach((e, i) => api.batch({ type: 'photo', batchId: req.batchId, photoId: ids[i], ...e }));
    await settle();
    const thumbs = w.findAll('button.thumb');
    expect(thumbs.map((t) => t.get('.badge').text())).toEqual(['✓', '!', '…', '∅', '–', '·']);
    expect(thumbs.map((t) => t.get('.badge').attributes('aria-label'))).toEqual(['done', 'failed', 'running', 'no cells', 'not processed', 'queued']);
    expect(thumbs.map((t) => t.attributes('title'))).toEqual([
      `${ids[0]}\ndone · top class paper · from the cache`, `${ids[1]}\nfailed: truncated JPEG`, `${ids[2]}\nrunning`,
      `${ids[3]}\nno cells`, `${ids[4]}\nnot processed: cancelled`, `${ids[5]}\nqueued`,
    ]);
    usePhotosStore().select(ids[3]);
    await settle();
    expect(thumbs.map((t) => t.attributes('aria-current'))).toEqual(['false', 'false', 'false', 'true', 'false', 'false']);
  });

  it('the strip scrolls new photos and the selected one into view, and its tooltips give the full path', async () => {
    const scrolled: string[] = [];
    const original = HTMLElement.prototype.scrollIntoView;
    HTMLElement.prototype.scrollIntoView = function (this: HTMLElement) {
      scrolled.push(this.getAttribute('aria-label') ?? '');
    };
    try {
      const w = mountWith(PhotoStrip, api);
      const photos = usePhotosStore();
      photos.take({ photos: [{ ...PHOTO, id: 'a', path: '/trip/day1/IMG_1.jpg', name: 'IMG_1.jpg' }], failed: [] });
      await settle();
      photos.take({ photos: [{ ...PHOTO, id: 'b', path: '/trip/day2/IMG_1.jpg', name: 'IMG_1.jpg' }, { ...PHOTO, id: 'c', path: '/trip/day2/IMG_2.jpg', name: 'IMG_2.jpg' }], failed: [] });
      await settle();
      // The first of the newly opened photos is shown and scrolled to.
      expect(scrolled.at(-1)).toBe('IMG_1.jpg, 40×40');
      expect(w.get('button.thumb[aria-current="true"]').attributes('title')).toBe('/trip/day2/IMG_1.jpg');
      photos.select('c');
      await settle();
      expect(scrolled.at(-1)).toBe('IMG_2.jpg, 40×40');
      expect(scrolled).toHaveLength(3);
    } finally {
      HTMLElement.prototype.scrollIntoView = original;
    }
  });

  it('remembers colormap, opacity, threshold and mean/max across restarts', async () => {
    piniaWith(api);
    const view = useViewStore();
    view.colormap = 'viridis';
    view.opacity = 0.3;
    view.threshold = 0.45;
    useScoresStore().setMode('mean');
    await settle();
    // A new window: a new Pinia, the same storage (piniaWith clears it, so set up without it).
    const { createPinia, setActivePinia } = await import('pinia');
    const { createApp } = await import('vue');
    const app = createApp({});
    app.provide(API_KEY, api);
    const pinia = createPinia();
    app.use(pinia);
    setActivePinia(pinia);
    const again = useViewStore();
    expect([again.colormap, again.opacity, again.threshold, useScoresStore().mode]).toEqual(['viridis', 0.3, 0.45, 'mean']);
  });

  it('a conversion shows its stage, progress and Cancel, and dims the previous model\'s report', async () => {
    let finish: () => void = () => undefined;
    const w = mountWith(ModelPanel, api);
    await useSessionStore().start();
    await settle();
    let jobId = '';
    api.loadModel.mockImplementation((req: { jobId?: string; path: string | null }) => new Promise((resolve, reject) => {
      jobId = req.jobId ?? '';
      finish = () => {
        const err = new Error('the operation was cancelled');
        err.name = 'AbortError';
        reject(err);
      };
      void req;
      void resolve;
    }));
    const loading = useModelStore().load('/m/big/model.json');
    await settle();
    // The window names the conversion's job itself and main's progress carries that name.
    expect(jobId).toMatch(/^load-model:/);
    api.progress({ jobId, stage: 'verifying', done: 3, total: 9 });
    await settle();
    expect(w.get('[data-testid="conversion"]').classes()).toContain('stale');
    expect(w.get('[data-testid="model-loading"]').text()).toMatch(/Converting model\.json · verifying…/);
    await w.get('[data-testid="model-loading"] button').trigger('click');
    expect(api.cancel).toHaveBeenCalledWith(jobId);
    finish();
    await loading;
    await settle();
    // Cancelled: the old model stays, no error, the report is no longer dimmed.
    expect(useModelStore().model?.id).toBe(MODEL.id);
    expect(useModelStore().error).toBeNull();
    expect(w.get('[data-testid="conversion"]').classes()).not.toContain('stale');
  });
});

describe('messages and the pointer', () => {
  it('turns Node error codes into plain words, keeping the path', async () => {
    const { plainError } = await import('../../renderer/messages');
    expect(plainError("ENOENT: no such file or directory, stat '/photos/a.png'")).toBe('/photos/a.png: not found');
    expect(plainError("x.png: cannot read file (EACCES: permission denied, open 'x.png')")).toBe('x.png: cannot read file (permission denied)');
    expect(plainError('model.json: not a layers model')).toBe('model.json: not a layers model');
  });

  it('shows the top-5 at the pointer as a tooltip beside it', async () => {
    const api = fakeApi();
    const w = mountWith(PhotoView, api);
    await startAtScales('1');
    const view = useViewStore();
    view.setPointer(20, 20);
    await w.vm.$nextTick();
    // Scale 1 scores cat 0.9, dog 0.3, background 0.1 everywhere.
    expect(w.get('[data-testid="hover-tip"]').findAll('.tip-row').map((r) => r.text())).toEqual(['cat0.900', 'dog0.300', 'background0.100']);
    view.clearPointer();
    await w.vm.$nextTick();
    expect(w.find('[data-testid="hover-tip"]').exists()).toBe(false);
  });
});

describe('the batch grid', () => {
  it('lists the photos with status and top class, sortable, and a click shows the photo', async () => {
    const api = fakeApi();
    const { default: BatchGrid } = await import('../../renderer/components/BatchGrid.vue');
    const w = mountWith(BatchGrid, api);
    const { useBatchStore } = await import('../../renderer/stores/batch');
    await useModelStore().load(null);
    void useSessionStore().openDropped([{ file: new File(['x'], 'day1'), isDirectory: true }]);
    await settle();
    const req = api.runBatch.mock.calls[0][0];
    const [a, b] = req.photoIds as string[];
    api.batch({ type: 'photo', batchId: req.batchId, photoId: a, status: 'done', classLabel: 'paper' });
    api.batch({ type: 'photo', batchId: req.batchId, photoId: b, status: 'done', classLabel: 'clothes' });
    await settle();
    const order = (): string[] => w.findAll('tbody tr').map((r) => r.find('.name').text());
    expect(order()).toEqual(['a.jpg', 'b.jpg']);
    await w.get('[data-sort="class"]').trigger('click');
    expect(order()).toEqual(['b.jpg', 'a.jpg']);
    expect(w.findAll('tbody tr').map((r) => r.findAll('td')[3].text())).toEqual(['clothes', 'paper']);
    await w.get('[data-sort="class"]').trigger('click');
    expect(order()).toEqual(['a.jpg', 'b.jpg']);
    await w.get(`tbody tr[data-photo="${b}"]`).trigger('click');
    expect(usePhotosStore().selectedId).toBe(b);
    expect(w.emitted('open')).toHaveLength(1);
    expect(useBatchStore().statusOf(a)?.status).toBe('done');
  });

  it('ranks a folder by a chosen class: the max column holds each photo\'s highest score of that class, strongest first, photos without scores last', async () => {
    const api = fakeApi();
    const { default: BatchGrid } = await import('../../renderer/components/BatchGrid.vue');
    const w = mountWith(BatchGrid, api);
    await useModelStore().load(null);
    void useSessionStore().openDropped([{ file: new File(['x'], 'day1'), isDirectory: true }, { file: new File(['x'], 'day2'), isDirectory: true }]);
    await settle();
    const req = api.runBatch.mock.calls[0][0];
    expect(req.photoIds).toEqual(['/dropped/day1/a.jpg', '/dropped/day1/b.jpg', '/dropped/day2/a.jpg', '/dropped/day2/b.jpg']);
    // Labels cat, dog, background: maxima per photo in that order; day2/b failed (no scores).
    const maxima: Record<string, number[]> = {
      '/dropped/day1/a.jpg': [0.1, 0.7, 0.95],
      '/dropped/day1/b.jpg': [0.8, 0.2, 0.05],
      '/dropped/day2/a.jpg': [0.4, 0.55, 0.1],
    };
    // day2/a comes without a class label (as a photo only exported does): its top class is read from its maxima.
    for (const [photoId, m] of Object.entries(maxima)) api.batch({ type: 'photo', batchId: req.batchId, photoId, status: 'done', maxima: m, ...(photoId.endsWith('day2/a.jpg') ? {} : { classLabel: 'x' }) });
    api.batch({ type: 'photo', batchId: req.batchId, photoId: '/dropped/day2/b.jpg', status: 'failed', reason: 'not a supported image' });
    await settle();
    const order = (): string[] => w.findAll('tbody tr').map((r) => r.attributes('data-photo') ?? '');
    const shown = (): string[] => w.findAll('tbody td[data-col="max"]').map((td) => td.text());
    const rank = async (v: string): Promise<void> => {
      await w.get('[data-testid="rank-class"]').setValue(v);
      await settle();
    };
    await rank('0'); // cat
    expect(order()).toEqual(['/dropped/day1/b.jpg', '/dropped/day2/a.jpg', '/dropped/day1/a.jpg', '/dropped/day2/b.jpg']);
    expect(shown()).toEqual(['0.800', '0.400', '0.100', '—']);
    expect(w.get('[data-sort="max"]').text()).toMatch(/^max cat ▼$/);
    await rank('1'); // dog
    expect(order()).toEqual(['/dropped/day1/a.jpg', '/dropped/day2/a.jpg', '/dropped/day1/b.jpg', '/dropped/day2/b.jpg']);
    // The top class never counts background: day1/a ranks by its dog score 0.7, not its background 0.95.
    await rank('top');
    expect(order()).toEqual(['/dropped/day1/b.jpg', '/dropped/day1/a.jpg', '/dropped/day2/a.jpg', '/dropped/day2/b.jpg']);
    expect(shown()).toEqual(['0.800', '0.700', '0.550', '—']);
    await rank('2'); // background itself can still be ranked when asked for
    expect(shown()).toEqual(['0.950', '0.100', '0.050', '—']);
    // The header turns the order around; the photo without scores stays last.
    await rank('0');
    await w.get('[data-sort="max"]').trigger('click');
    expect(order()).toEqual(['/dropped/day1/a.jpg', '/dropped/day2/a.jpg', '/dropped/day1/b.jpg', '/dropped/day2/b.jpg']);
    expect(w.get('tbody tr[data-photo="/dropped/day2/a.jpg"]').findAll('td')[3].text()).toBe('dog');
    // Same-named photos are told apart by their folder in the row's tooltip.
    expect(w.get('tbody tr[data-photo="/dropped/day2/a.jpg"]').attributes('title')).toBe('/dropped/day2/a.jpg');
  });
});

describe('Run batch → folder (issue 12, items 9 and 17)', () => {
  it('batch and export have their own tab; one click computes and exports every photo with the export\'s own boxes, then Show in folder opens what it wrote', async () => {
    const api = fakeApi();
    const w = mountWith(App, api, document.body.appendChild(document.createElement('div')));
    await settle();
    const tab = (name: string) => w.get(`[role="tab"][data-tab="${name}"]`);
    const panel = (id: string) => w.get(`#${id}`).element as HTMLElement;
    expect(tab('model').attributes('aria-selected')).toBe('true');
    expect(panel('panel-batch').style.display).toBe('none');
    await tab('batch').trigger('click');
    expect(panel('panel-batch').style.display).toBe('');
    expect(panel('panel-model').style.display).toBe('none');

    // The demo is open; a folder adds a.jpg and b.jpg and queues them.
    void useSessionStore().openDropped([{ file: new File(['x'], 'day1'), isDirectory: true }]);
    await settle();
    const queue = api.runBatch.mock.calls[0][0];
    api.finishBatch(queue.batchId);
    await settle();

    // The view shows boxes; the export is asked for none.
    useViewStore().showDetections = true;
    await w.get('[data-testid="export-boxes"]').setValue(false);
    await tab('model').trigger('click');
    const run = w.get('button[aria-label="Export all photos"]');
    expect(run.text()).toBe('Run batch → folder…');
    await run.trigger('click');
    await settle();
    // The export brings its tab forward, with its progress on the tab.
    expect(tab('batch').attributes('aria-selected')).toBe('true');
    expect(api.chooseExportFolder).toHaveBeenCalledTimes(1);
    expect(api.runBatch).toHaveBeenCalledTimes(2);
    const req = api.runBatch.mock.calls[1][0];
    // The folder's two photos, not the demo scene the user never opened.
    expect(req.photoIds).toEqual(['/dropped/day1/a.jpg', '/dropped/day1/b.jpg']);
    expect(req).toMatchObject({ export: { outDir: '/exports' }, recipe: { boxes: false } });
    api.batch({ type: 'progress', batchId: req.batchId, total: 2, done: 1, failed: 0, skipped: 0, running: 1, elapsedMs: 10, etaMs: 20, photosPerMinute: 6 });
    await settle();
    expect(w.get('[data-testid="batch-tab-progress"]').text()).toBe('1/2');
    api.finishBatch(req.batchId);
    await settle();
    expect(w.find('[data-testid="batch-tab-progress"]').exists()).toBe(false);
    expect(w.get('[data-testid="export-last"]').text()).toBe('Exported 2 PNGs to exports');
    await w.get('[data-testid="show-in-folder"]').trigger('click');
    await settle();
    // The first PNG the export wrote (the fake names outputs after the photo ids).
    expect(api.showInFolder).toHaveBeenCalledWith(`/exports/${req.photoIds[0].split('/').pop()}.heatmap.png`);
    w.unmount();
  });
});
