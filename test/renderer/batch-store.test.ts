// @vitest-environment happy-dom
import { mount } from '@vue/test-utils';
import { beforeEach, describe, expect, it } from 'vitest';
import { checkRecipe } from '../../core/recipe';
import { API_KEY } from '../../renderer/api';
import BatchPanel from '../../renderer/components/BatchPanel.vue';
import { useBatchStore } from '../../renderer/stores/batch';
import { useModelStore } from '../../renderer/stores/model';
import { usePhotosStore } from '../../renderer/stores/photos';
import { useScoresStore } from '../../renderer/stores/scores';
import { useSessionStore } from '../../renderer/stores/session';
import { useViewStore } from '../../renderer/stores/view';
import { fakeApi, piniaWith, settle, MODEL } from './fake-api';

describe('the batch store (fake API)', () => {
  let api: ReturnType<typeof fakeApi>;
  beforeEach(() => {
    api = fakeApi();
    pinia = piniaWith(api);
  });
  let pinia: ReturnType<typeof piniaWith>;

  async function openFolder(): Promise<{ batch: ReturnType<typeof useBatchStore>; batchId: string; ids: string[] }> {
    const batch = useBatchStore();
    useScoresStore().setCustom('0.5, 1');
    await useModelStore().load(null);
    const file = new File(['x'], 'day1');
    batch.recursive = true;
    void useSessionStore().openDropped([{ file, isDirectory: true }]);
    await settle();
    expect(api.addFolders).toHaveBeenCalledWith({ paths: ['/dropped/day1'], recursive: true });
    expect(api.runBatch).toHaveBeenCalledTimes(1);
    const req = api.runBatch.mock.calls[0][0];
    return { batch, batchId: req.batchId, ids: req.photoIds };
  }

  it('a dropped folder joins the photo list and the queue: one runBatch with the scales and mode in use, no export', async () => {
    const { batch, ids } = await openFolder();
    const photos = usePhotosStore();
    expect(photos.photos.map((p) => p.name)).toEqual(['a.jpg', 'b.jpg']);
    expect(photos.failures.map((f) => f.reason)).toEqual(['notes.png: not a supported image']);
    expect(batch.skippedFiles).toBe(1);
    expect(batch.unreadable).toBe(1);
    expect(ids).toEqual(['/dropped/day1/a.jpg', '/dropped/day1/b.jpg']);
    const req = api.runBatch.mock.calls[0][0];
    expect(req).toMatchObject({ modelId: MODEL.id, recipe: { scales: [0.5, 1], mode: 'max' } });
    expect(req.export).toBeUndefined();
    expect(ids.map((id) => batch.statusOf(id)?.status)).toEqual(['queued', 'queued']);
    expect(batch.run?.progress).toMatchObject({ total: 2, done: 0 });
  });

  it("with the 'auto' scales, the batch asks main for each photo's own default scales, not the selected photo's", async () => {
    const batch = useBatchStore();
    const scores = useScoresStore();
    scores.setPreset('auto');
    await useModelStore().load(null);
    void useSessionStore().openDropped([{ file: new File(['x'], 'day2'), isDirectory: true }]);
    await settle();
    expect(api.runBatch).toHaveBeenCalledTimes(1);
    const req = api.runBatch.mock.calls[0][0];
    expect(req.recipe.scales).toBe('auto');
    // A custom list goes to every photo as it is.
    scores.setCustom('0.5, 1');
    batch.enqueue(req.photoIds);
    api.finishBatch(req.batchId);
    await settle();
    expect(api.runBatch.mock.calls.at(-1)?.[0].recipe.scales).toEqual([0.5, 1]);
  });

  it('batch events set per-photo statuses (with reasons) and the progress with time left', async () => {
    const { batch, batchId, ids } = await openFolder();
    api.batch({ type: 'photo', batchId, photoId: ids[0], status: 'running' });
    expect(batch.statusOf(ids[0])?.status).toBe('running');
    api.batch({ type: 'photo', batchId, photoId: ids[0], status: 'done', cached: true, classLabel: 'dog' });
    api.batch({ type: 'photo', batchId, photoId: ids[1], status: 'failed', reason: 'not a supported image (VipsJpeg: premature end)' });
    api.batch({ type: 'progress', batchId, total: 2, done: 1, failed: 1, skipped: 0, running: 0, elapsedMs: 4000, etaMs: 65_000, photosPerMinute: 30 });
    // Events of other batches are ignored.
    api.batch({ type: 'photo', batchId: 'other', photoId: ids[0], status: 'failed', reason: 'x' });
    expect(batch.statusOf(ids[0])).toEqual({ status: 'done', cached: true, classLabel: 'dog' });
    expect(batch.statusOf(ids[1])).toEqual({ status: 'failed', reason: 'not a supported image (VipsJpeg: premature end)' });
    expect(batch.counts).toMatchObject({ done: 1, failed: 1, queued: 0 });
    expect(batch.fraction).toBe(1);
    expect(batch.timeLeft).toBe('1m05s');
    api.finishBatch(batchId, { done: 1, failed: [{ photoId: ids[1], reason: 'bad' }], statuses: ['done', 'failed'] });
    await settle();
    expect(batch.run).toBeNull();
    expect(batch.statusOf(ids[1])?.reason).toBe('not a supported image (VipsJpeg: premature end)');
    expect(batch.lastRun).toMatchObject({ done: 1, total: 2 });
  });

  it('pause, resume and cancel call main with the batch id; cancel keeps done photos and skips the waiting ones', async () => {
    const { batch, batchId, ids } = await openFolder();
    await batch.pause();
    expect(api.pauseBatch).toHaveBeenCalledWith(batchId);
    api.batch({ type: 'paused', batchId });
    expect(batch.run?.paused).toBe(true);
    await batch.resume();
    expect(api.resumeBatch).toHaveBeenCalledWith(batchId);
    api.batch({ type: 'resumed', batchId });
    expect(batch.run?.paused).toBe(false);

    api.batch({ type: 'photo', batchId, photoId: ids[0], status: 'done' });
    // More photos wait for the next run.
    await batch.enqueue(['p-later']);
    expect(batch.pending).toEqual(['p-later']);
    expect(api.runBatch).toHaveBeenCalledTimes(1);
    await batch.cancel();
    expect(api.cancel).toHaveBeenCalledWith(batchId);
    expect(batch.run?.cancelling).toBe(true);
    expect(batch.pending).toEqual([]);
    expect(batch.statusOf('p-later')).toEqual({ status: 'skipped', reason: 'cancelled' });
    api.batch({ type: 'photo', batchId, photoId: ids[1], status: 'skipped', reason: 'cancelled' });
    api.finishBatch(batchId, { done: 1, skipped: 1, statuses: ['done', 'skipped'] });
    await settle();
    expect(batch.run).toBeNull();
    expect(batch.lastRun?.cancelled).toBe(true);
    expect(batch.statusOf(ids[0])?.status).toBe('done');
    expect(batch.statusOf(ids[1])?.status).toBe('skipped');
    expect(api.runBatch).toHaveBeenCalledTimes(1);
  });

  it('the result settles photos whose last events never came (they may arrive after it, or not at all)', async () => {
    const { batch, batchId, ids } = await openFolder();
    api.batch({ type: 'photo', batchId, photoId: ids[0], status: 'running' });
    api.finishBatch(batchId, { done: 1, failed: [{ photoId: ids[1], reason: 'truncated' }], statuses: ['done', 'failed'] });
    await settle();
    expect(batch.statusOf(ids[0])).toEqual({ status: 'done' });
    expect(batch.statusOf(ids[1])).toEqual({ status: 'failed', reason: 'truncated' });
    // A late event of the finished batch changes no status…
    api.batch({ type: 'photo', batchId, photoId: ids[0], status: 'running' });
    expect(batch.statusOf(ids[0])?.status).toBe('done');
    api.batch({ type: 'photo', batchId, photoId: ids[1], status: 'done', classLabel: 'dog', maxima: [0.1, 0.9, 0] });
    expect(batch.statusOf(ids[1])).toEqual({ status: 'failed', reason: 'truncated' });
    // …but the last 'done' event still brings its top class and per-class maxima.
    api.batch({ type: 'photo', batchId, photoId: ids[0], status: 'done', classLabel: 'cat', maxima: [0.8, 0.1, 0.1] });
    expect(batch.statusOf(ids[0])).toEqual({ status: 'done', classLabel: 'cat', maxima: [0.8, 0.1, 0.1] });
  });

  it('statuses belong to the scales they were computed with: new scales clear them when the queue is idle, not while a run goes on', async () => {
    const { batch, batchId, ids } = await openFolder();
    api.finishBatch(batchId);
    await settle();
    expect(ids.map((id) => batch.statusOf(id)?.status)).toEqual(['done', 'done']);
    const scores = useScoresStore();
    scores.setCustom('1');
    await settle();
    expect(ids.map((id) => batch.statusOf(id))).toEqual([undefined, undefined]);
    expect(batch.counts.done).toBe(0);

    void batch.enqueue(ids);
    await settle();
    const running = api.runBatch.mock.calls[1][0];
    expect(running.recipe.scales).toEqual([1]);
    await batch.enqueue(['p-later']);
    scores.setCustom('0.5');
    await settle();
    // The run goes on with its photos' statuses; the photos waiting run next with the new scales.
    expect(ids.map((id) => batch.statusOf(id)?.status)).toEqual(['queued', 'queued']);
    api.finishBatch(running.batchId);
    await settle();
    expect(api.runBatch.mock.calls[2][0]).toMatchObject({ photoIds: ['p-later'], recipe: { scales: [0.5] } });
    expect(batch.statusOf(ids[0])?.status).toBe('done');
  });

  it('a run main refuses before it starts skips its queued photos with main\'s reason (without Electron\'s invoke prefix)', async () => {
    const batch = useBatchStore();
    useScoresStore().setCustom('1');
    await useModelStore().load(null);
    api.runBatch.mockRejectedValueOnce(new Error("Error invoking remote method 'convmap:runBatch': Error: no model m1 is loaded"));
    await batch.enqueue(['p-a', 'p-b']);
    expect(batch.error).toBe('no model m1 is loaded');
    expect(batch.statusOf('p-a')).toEqual({ status: 'skipped', reason: 'no model m1 is loaded' });
    expect(batch.counts.skipped).toBe(2);
    expect(batch.run).toBeNull();
  });

  it('Process all queues the photos not done (failed ones again); Export all leaves failed photos out', async () => {
    const { batch, batchId, ids } = await openFolder();
    api.finishBatch(batchId, { done: 1, failed: [{ photoId: ids[1], reason: 'truncated' }], statuses: ['done', 'failed'] });
    await settle();
    void batch.processAll();
    await settle();
    const again = api.runBatch.mock.calls[1][0];
    expect(again.photoIds).toEqual([ids[1]]);
    api.finishBatch(again.batchId, { done: 0, failed: [{ photoId: ids[1], reason: 'truncated' }], statuses: ['failed'] });
    await settle();
    void batch.exportPhotos('all');
    await settle();
    expect(api.runBatch.mock.calls[2][0].photoIds).toEqual([ids[0]]);
  });

  it("an export's events: its pictures, its failures with reasons, its maxima on the grid (the queue's top class kept), and main's warning", async () => {
    const { batch, batchId, ids } = await openFolder();
    api.batch({ type: 'photo', batchId, photoId: ids[0], status: 'done', classLabel: 'dog' });
    api.finishBatch(batchId);
    await settle();
    void batch.exportPhotos('all');
    await settle();
    const req = api.runBatch.mock.calls[1][0];
    api.batch({ type: 'photo', batchId: req.batchId, photoId: ids[0], status: 'done', output: '/exports/a.png', classLabel: 'cat', maxima: [0.2, 0.7, 0.1] });
    api.batch({ type: 'photo', batchId: req.batchId, photoId: ids[1], status: 'failed', reason: 'b.jpg: truncated' });
    api.batch({ type: 'warning', batchId: req.batchId, message: 'low on memory: 1 photo at a time' });
    expect(batch.exporting?.outputs).toEqual(['/exports/a.png']);
    expect(batch.exporting?.failed).toEqual([{ photoId: ids[1], reason: 'b.jpg: truncated' }]);
    expect(batch.statusOf(ids[0])).toEqual({ status: 'done', classLabel: 'dog', maxima: [0.2, 0.7, 0.1] });
    expect(batch.statusOf(ids[1])?.status).toBe('done');
    expect(batch.warning).toBe('low on memory: 1 photo at a time');
    api.finishBatch(req.batchId);
    await settle();
  });

  it("an export computes the scales switched on; Export all under the 'auto' preset gives each photo its own ('auto')", async () => {
    const { batch, batchId } = await openFolder();
    api.finishBatch(batchId);
    await settle();
    const scores = useScoresStore();
    scores.toggleScale(0.5);
    void batch.exportPhotos('current');
    await settle();
    const current = api.runBatch.mock.calls[1][0];
    expect(current.recipe.scales).toEqual([1]);
    api.finishBatch(current.batchId);
    await settle();
    void batch.exportPhotos('all');
    await settle();
    const all = api.runBatch.mock.calls[2][0];
    expect(all.recipe.scales).toEqual([1]);
    api.finishBatch(all.batchId);
    await settle();
    scores.setPreset('auto');
    await settle();
    const calls = api.runBatch.mock.calls.length;
    void batch.exportPhotos('all');
    await settle();
    expect(api.runBatch.mock.calls[calls][0].recipe.scales).toBe('auto');
  });

  it('queued photos run next, after the running batch ends', async () => {
    const { batch, batchId } = await openFolder();
    await batch.enqueue(['p-later']);
    api.finishBatch(batchId);
    await settle();
    expect(api.runBatch).toHaveBeenCalledTimes(2);
    expect(api.runBatch.mock.calls[1][0].photoIds).toEqual(['p-later']);
  });

  it('exports the current photo with the heatmap panel\'s class, colormap, opacity and threshold, and the export\'s own boxes choice, into the chosen folder', async () => {
    const { batch, batchId } = await openFolder();
    api.finishBatch(batchId);
    await settle();
    const view = useViewStore();
    view.classChoice = 1;
    view.colormap = 'magma';
    view.opacity = 0.4;
    view.threshold = 0.3;
    // The view's boxes are not the export's.
    view.showDetections = false;
    batch.exportBoxes = true;
    batch.legend = false;
    batch.namePattern = '{class}-{name}';
    batch.csv = true;
    const done = batch.exportPhotos('current');
    await settle();
    expect(api.chooseExportFolder).toHaveBeenCalledTimes(1);
    const req = api.runBatch.mock.calls[1][0];
    expect(req.photoIds).toEqual([usePhotosStore().selected?.id]);
    expect(req.export).toEqual({ outDir: '/exports' });
    // The view's recipe, as core/recipe's validator accepts it, with the Batch tab's boxes and legend.
    expect(checkRecipe(req.recipe)).toEqual({ ok: true, recipe: req.recipe });
    // The view left to the model's default (main binds it with core/pipeline bindRecipe, as the window shows it: 'absolute' here).
    expect(view.view).toBe('absolute');
    expect(req.recipe).toMatchObject({
      classChoice: 'dog', view: null, colormap: 'magma', opacity: 0.4, threshold: 0.3, boxes: true, detectThreshold: 0.5,
      legend: false, namePattern: '{class}-{name}', scores: 'none', csv: true,
    });
    expect(batch.exporting?.outDir).toBe('/exports');
    api.batch({ type: 'photo', batchId: req.batchId, photoId: req.photoIds[0], status: 'done', output: '/exports/dog-a.png' });
    expect(batch.exporting?.outputs).toEqual(['/exports/dog-a.png']);
    api.finishBatch(req.batchId);
    expect(await done).toMatchObject({ done: 1, cancelled: false });
    expect(batch.exporting).toBeNull();
    expect(batch.lastExport?.outputs).toHaveLength(1);

    batch.exportClass = 'top';
    void batch.exportPhotos('all');
    await settle();
    const all = api.runBatch.mock.calls[2][0];
    expect(all.photoIds).toHaveLength(2);
    expect(all.recipe.classChoice).toBe('top');
    await batch.cancelExport();
    expect(api.cancel).toHaveBeenCalledWith(all.batchId);
    api.finishBatch(all.batchId);
    await settle();
    expect(batch.lastExport?.cancelled).toBe(true);

    // A cancelled dialog exports nothing.
    api.chooseExportFolder.mockResolvedValueOnce(null);
    expect(await batch.exportPhotos('all')).toBeNull();
    expect(api.runBatch).toHaveBeenCalledTimes(3);
  });

  it('the Batch tab\'s Queue setting goes with the export\'s runBatch (trimmed); emptied, the export runs here', async () => {
    const { batchId } = await openFolder();
    api.finishBatch(batchId);
    await settle();
    const w = mount(BatchPanel, { global: { plugins: [pinia], provide: { [API_KEY as symbol]: api } } });
    await w.get('[data-testid="queue-url"]').setValue('  redis://:pw@10.0.0.5:6379/1 ');
    await w.get('button[aria-label="Export all photos"]').trigger('click');
    await settle();
    const queued = api.runBatch.mock.calls[1][0];
    expect(queued.queue).toBe('redis://:pw@10.0.0.5:6379/1');
    expect(queued.export?.outDir).toBe('/exports');
    api.finishBatch(queued.batchId);
    await settle();
    await w.get('[data-testid="queue-url"]').setValue('');
    await w.get('button[aria-label="Export all photos"]').trigger('click');
    await settle();
    const local = api.runBatch.mock.calls[2][0];
    expect(local.export?.outDir).toBe('/exports');
    expect('queue' in local).toBe(false);
    api.finishBatch(local.batchId);
    w.unmount();
  });
});
