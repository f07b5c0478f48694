// @vitest-environment happy-dom
import { beforeEach, describe, expect, it } from 'vitest';
import { useJobsStore } from '../../renderer/stores/jobs';
import { useModelStore } from '../../renderer/stores/model';
import { usePhotosStore } from '../../renderer/stores/photos';
import { useScoresStore } from '../../renderer/stores/scores';
import { useSessionStore } from '../../renderer/stores/session';
import { useViewStore } from '../../renderer/stores/view';
import { SCALE_PRESETS } from '../../renderer/scales';
import { fakeApi, piniaWith, settle, MODEL, PHOTO, startAtScales } from './fake-api';

/** Score of class k at the first covered cell of the averaged map. */
function avgScore(scores: ReturnType<typeof useScoresStore>, k: number): number {
  const avg = scores.averaged;
  if (!avg) throw new Error('no averaged map');
  const cell = avg.coverage.findIndex((c) => c > 0);
  return avg.scores[cell * avg.classes + k];
}

describe('renderer stores', () => {
  let api: ReturnType<typeof fakeApi>;
  beforeEach(() => {
    api = fakeApi();
    piniaWith(api);
  });

  it('first launch loads the built-in model and the demo scene and computes the default preset once', async () => {
    const scores = useScoresStore();
    await useSessionStore().start();
    await settle();
    expect(api.loadModel).toHaveBeenCalledWith({ jobId: expect.stringMatching(/^load-model:/), path: null });
    expect(api.demoScene).toHaveBeenCalledTimes(1);
    expect(api.computeScores).toHaveBeenCalledTimes(1);
    const req = api.computeScores.mock.calls[0][0];
    expect(req).toMatchObject({ modelId: MODEL.id, photoId: PHOTO.id });
    expect(req.scales).toEqual(SCALE_PRESETS.find((p) => p.id === scores.presetId)?.scales);
    expect(scores.averaged).not.toBeNull();
  });

  it('asks main for the backend again after a photo\'s scores while a GPU runs the model, so a pass that fell back to the CPU shows; on the CPU it does not ask', async () => {
    const why = 'cuda failed on a pass of the model (out of memory): it runs on the CPU';
    // Main's answer changes once a pass has run (the fallback happens on a pass).
    api.backendInfo.mockImplementation(async () => ({ backend: 'onnx', workers: 2, device: 'cuda', notes: [], ...(api.computeScores.mock.calls.length ? { deviceFallbacks: [why] } : {}) }) as never);
    await useSessionStore().start();
    await settle();
    expect(api.computeScores).toHaveBeenCalledTimes(1);
    expect(useModelStore().backend?.deviceFallbacks).toEqual([why]);
    const cpu = fakeApi();
    cpu.backendInfo.mockImplementation(async () => ({ backend: 'onnx', workers: 2, device: 'cpu', notes: [] }) as never);
    piniaWith(cpu);
    await useSessionStore().start();
    await settle();
    expect(cpu.computeScores).toHaveBeenCalledTimes(1);
    expect(cpu.backendInfo.mock.calls.length).toBe(api.backendInfo.mock.calls.length - 1);
  });

  it('re-averages locally when a scale is toggled, without calling computeScores again', async () => {
    const scores = useScoresStore();
    scores.setCustom('0.5, 1');
    scores.setMode('mean');
    await useSessionStore().start();
    await settle();
    expect(api.computeScores).toHaveBeenCalledTimes(1);
    expect(avgScore(scores, 0)).toBeCloseTo((0.1 + 0.9) / 2, 5);

    scores.toggleScale(0.5);
    expect(scores.keptMaps.map((m) => m.scale)).toEqual([1]);
    expect(avgScore(scores, 0)).toBeCloseTo(0.9, 5);
    scores.setMode('max');
    scores.toggleScale(0.5);
    expect(avgScore(scores, 1)).toBeCloseTo(0.7, 5);
    // By hand: on the 40×40 photo, scale 1 (9×9 cells of 8 px at stride 4) and scale 0.5 (4×4 cells,
    // 16 px at stride 8 in original pixels) both span the whole photo, so the 10×10 grid (the finer
    // stride, 4 px) is covered twice everywhere and max mode gives per class max(0.1, 0.9),
    // max(0.7, 0.3), max(0.2, 0.1) in every cell.
    const avg = scores.averaged;
    expect([avg?.rows, avg?.cols, avg?.cellSize, avg?.mode]).toEqual([10, 10, [4, 4], 'max']);
    expect(Array.from(avg?.coverage ?? [])).toEqual(new Array(100).fill(2));
    for (let cell = 0; cell < 100; cell++) {
      expect(Array.from(avg?.scores.subarray(cell * 3, cell * 3 + 3) ?? []).map((v) => Number(v.toFixed(6)))).toEqual([0.9, 0.7, 0.2]);
    }
    await settle();
    expect(api.computeScores).toHaveBeenCalledTimes(1);
  });

  it('asks main only for the scales it has not computed yet', async () => {
    const scores = useScoresStore();
    await startAtScales('1');
    scores.setCustom('0.5 1 2');
    await settle();
    expect(api.computeScores).toHaveBeenCalledTimes(2);
    expect(api.computeScores.mock.calls[1][0].scales).toEqual([0.5, 2]);
    expect(scores.keptMaps.map((m) => m.scale)).toEqual([0.5, 1, 2]);
    expect(scores.setCustom('0.5, x')).toMatch(/"x"/);
  });

  it('ranks classes by their strongest averaged score in the photo', async () => {
    const scores = useScoresStore();
    await startAtScales('0.5');
    // dog 0.7, background 0.2, cat 0.1: background never leads, it goes last.
    expect(scores.ranking.map((r) => r.label)).toEqual(['dog', 'cat', 'background']);
    // "any" leaves background out: the strongest of cat and dog.
    expect(scores.anyClasses).toEqual([0, 1]);
    expect(scores.anyScore).toBeCloseTo(0.7, 5);
  });

  it('cancel calls api.cancel with the running job id and reports a cancel, not an error', async () => {
    let release: () => void = () => undefined;
    api = fakeApi({ hold: new Promise<void>((r) => (release = r)) });
    piniaWith(api);
    const scores = useScoresStore();
    const jobs = useJobsStore();
    void useSessionStore().start();
    await settle();
    expect(api.computeScores).toHaveBeenCalledTimes(1);
    const jobId = api.computeScores.mock.calls[0][0].jobId;
    expect(jobs.active.map((j) => j.jobId)).toEqual([jobId]);
    api.progress({ jobId, stage: 'scales 0.5, 0.6666666666666666', done: 1, total: 3 });
    expect(jobs.active[0]).toMatchObject({ stage: 'scales 0.5, 0.667', done: 1, total: 3 });
    await scores.cancel();
    await settle();
    expect(api.cancel).toHaveBeenCalledWith(jobId);
    expect(scores.cancelled).toBe(true);
    expect(scores.error).toBeNull();
    expect(jobs.active).toEqual([]);
    // A late progress event of the finished job does not bring it back.
    api.progress({ jobId, stage: 'scales', done: 2, total: 3 });
    expect(jobs.active).toEqual([]);
    release();
  });

  it('dropped files are opened by path: model files and folders holding a model as models, other folders as photo folders, the rest as photos', async () => {
    const session = useSessionStore();
    const photos = usePhotosStore();
    const model = useModelStore();
    const file = (name: string): File => new File(['x'], name);
    await session.openDropped([
      { file: file('pets'), isDirectory: true },
      { file: file('a.jpg'), isDirectory: false },
      { file: file('b.png'), isDirectory: false },
    ]);
    expect(api.pathForFile).toHaveBeenCalledTimes(3);
    // main decides what a folder is: "pets" holds a model (fake-api), so it is loaded as one.
    expect(api.addFolders).toHaveBeenCalledWith({ paths: ['/dropped/pets'], recursive: false });
    expect(api.loadModel).toHaveBeenCalledWith({ jobId: expect.stringMatching(/^load-model:/), path: '/dropped/pets' });
    expect(api.addPhotos).toHaveBeenCalledWith(['/dropped/a.jpg', '/dropped/b.png']);
    expect(photos.photos.map((p) => p.name)).toEqual(['a.jpg', 'b.png']);
    expect(model.model?.path).toBe('/dropped/pets');
    api.openFiles(['/x/model.json']);
    await settle();
    expect(api.loadModel).toHaveBeenLastCalledWith({ jobId: expect.stringMatching(/^load-model:/), path: '/x/model.json' });
  });

  it('hover gives the top classes at the point and the window of the best scale', async () => {
    const view = useViewStore();
    await startAtScales('0.5, 1');
    view.classChoice = 0;
    view.setPointer(20, 20);
    const hover = view.hover;
    expect(hover?.top.map((t) => t.label)).toEqual(['cat', 'dog', 'background']);
    // Scale 1 scores cat 0.9 (scale 0.5: 0.1): its 8-px window, in original pixels.
    expect(hover?.scale).toBe('1');
    const w = hover?.window;
    expect(w && [w[2] - w[0], w[3] - w[1]]).toEqual([8, 8]);
    view.setPointer(-5, 3);
    expect(view.hover).toBeNull();
  });
});
