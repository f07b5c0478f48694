import { describe, expect, it, vi } from 'vitest';
import { INVOKE_CHANNELS, type InvokeChannel, type PhotoRef } from '../../core/api';
import { CHANNEL_METHOD, registerIpc, type Dialogs } from '../../main/electron/ipc';
import type { AppService } from '../../main/services/app-service';

type Handler = (event: unknown, ...args: unknown[]) => Promise<unknown>;

const PHOTO: PhotoRef = Object.freeze({ id: 'p1', name: 'a.jpg', path: '/a.jpg', width: 400, height: 300, url: 'convmap-photo://photo/p1' });

function fakeService(): AppService {
  const exportDirs = new Set<string>();
  return {
    backendInfo: vi.fn(async () => ({ backend: 'wasm' as const, workers: 2 })),
    loadModel: vi.fn(async (req) => ({ id: 'm1', path: req.path, name: 'm', info: {} as never })),
    setPreprocess: vi.fn(async () => ({ id: 'm1', path: null, name: 'm', info: {} as never })),
    addPhotos: vi.fn(async (paths: string[]) => ({ photos: paths.map(() => PHOTO), failed: [] })),
    demoScene: vi.fn(async () => PHOTO),
    computeScores: vi.fn(async (req) => ({ jobId: req.jobId, photoId: req.photoId, modelId: req.modelId, maps: [], elapsedMs: 1 })),
    cancel: vi.fn(async () => undefined),
    recent: vi.fn(async () => ({ models: [], photos: [] })),
    addFolders: vi.fn(async () => ({ photos: [PHOTO], failed: [], skipped: 2, models: [] })),
    runBatch: vi.fn(async (req) => ({ batchId: req.batchId, total: req.photoIds.length, done: req.photoIds.length, failed: [], statuses: req.photoIds.map(() => 'done' as const), skipped: 0, cancelled: false, cacheHits: 0, elapsedMs: 1, outputs: [] })),
    pauseBatch: vi.fn(async () => undefined),
    resumeBatch: vi.fn(async () => undefined),
    allowExportDir: vi.fn((dir: string) => void exportDirs.add(dir)),
    isExportDir: (dir: string) => exportDirs.has(dir),
    onBatch: vi.fn(() => () => undefined),
    cacheDir: null,
    photoFile: vi.fn(() => undefined),
    photoBytes: vi.fn(async () => undefined),
    hasModel: (id: string) => id === 'm1',
    hasPhoto: (id: string) => id === 'p1',
    photoRef: (id: string) => (id === 'p1' ? PHOTO : undefined),
    onProgress: vi.fn(() => () => undefined),
    close: vi.fn(async () => undefined),
  };
}

function setup(refusal?: string) {
  const handlers = new Map<string, Handler>();
  const ipcMain = {
    handle: vi.fn((channel: string, h: Handler) => void handlers.set(channel, h)),
    removeHandler: vi.fn((channel: string) => void handlers.delete(channel)),
  };
  const service = fakeService();
  const dialogs: Dialogs = {
    openModel: vi.fn(async () => '/m/model.json'),
    openPhotos: vi.fn(async () => ['/x.jpg']),
    openFolders: vi.fn(async () => ['/photos']),
    chooseExportFolder: vi.fn(async () => '/exports'),
  };
  const log = vi.fn();
  const unregister = registerIpc({ ipcMain: ipcMain as never, service, dialogs, log, senderRefusal: () => refusal });
  const sender = { id: 1 };
  const call = (channel: InvokeChannel, ...args: unknown[]) => {
    const h = handlers.get(channel);
    if (!h) throw new Error(`no handler for ${channel}`);
    return h({ sender }, ...args);
  };
  return { handlers, ipcMain, service, dialogs, log, unregister, call, sender };
}

describe('IPC handlers', () => {
  it('register exactly one handler per invoke channel, and remove them all again', () => {
    const { handlers, unregister } = setup();
    expect([...handlers.keys()].sort()).toEqual([...INVOKE_CHANNELS].sort());
    expect(Object.keys(CHANNEL_METHOD).sort()).toEqual([...INVOKE_CHANNELS].sort());
    unregister();
    expect(handlers.size).toBe(0);
  });

  it('refuse every channel for a foreign sender, with the reason logged and in the rejection', async () => {
    const { call, service, log } = setup("the sender's page https://evil.example/ is not the app's");
    for (const channel of INVOKE_CHANNELS) {
      await expect(call(channel)).rejects.toThrow(new RegExp(`${channel} refused: the sender's page https://evil.example/ is not the app's`));
    }
    expect(log).toHaveBeenCalledTimes(INVOKE_CHANNELS.length);
    expect(service.backendInfo).not.toHaveBeenCalled();
    expect(service.addPhotos).not.toHaveBeenCalled();
  });

  it('refuse malformed arguments with the reason and never reach the service', async () => {
    const { call, service, log } = setup();
    await expect(call('convmap:compute-scores', { jobId: 'j', modelId: 'm1', photoId: 'p1', scales: [Number.NaN] })).rejects.toThrow(/convmap:compute-scores refused: each scale must be a finite number/);
    await expect(call('convmap:compute-scores', { jobId: 'j', modelId: 'm1', photoId: 'nope', scales: [1] })).rejects.toThrow(/no opened photo has id "nope"/);
    await expect(call('convmap:add-photos', ['relative.jpg'])).rejects.toThrow(/must be absolute/);
    await expect(call('convmap:load-model', { path: '/m.json', extra: 1 })).rejects.toThrow(/unexpected field "extra"/);
    await expect(call('convmap:cancel')).rejects.toThrow(/takes one argument, got 0/);
    await expect(call('convmap:recent', 'x')).rejects.toThrow(/takes no arguments/);
    expect(service.computeScores).not.toHaveBeenCalled();
    expect(service.addPhotos).not.toHaveBeenCalled();
    expect(service.loadModel).not.toHaveBeenCalled();
    expect(log.mock.calls.map((c) => String(c[0]))).toHaveLength(6);
  });

  it('pass valid arguments to the service and return its answer', async () => {
    const { call, service } = setup();
    const req = { jobId: 'j', modelId: 'm1', photoId: 'p1', scales: [1, 2] };
    await expect(call('convmap:compute-scores', req)).resolves.toMatchObject({ jobId: 'j', photoId: 'p1' });
    expect(service.computeScores).toHaveBeenCalledWith(req);
    await call('convmap:load-model', { path: null, preprocess: 'unit' });
    expect(service.loadModel).toHaveBeenCalledWith({ path: null, preprocess: 'unit' });
    await call('convmap:add-photos', ['/a.jpg']);
    expect(service.addPhotos).toHaveBeenCalledWith(['/a.jpg']);
    await call('convmap:cancel', 'j');
    expect(service.cancel).toHaveBeenCalledWith('j');
    await expect(call('convmap:backend-info')).resolves.toEqual({ backend: 'wasm', workers: 2 });
    await expect(call('convmap:recent')).resolves.toEqual({ models: [], photos: [] });
    await expect(call('convmap:demo-scene')).resolves.toEqual(PHOTO);
    await call('convmap:set-preprocess', { modelId: 'm1', preprocess: 'raw' });
    expect(service.setPreprocess).toHaveBeenCalledWith({ modelId: 'm1', preprocess: 'raw' });
  });

  it('open folders through the dialog, allow exports only into the folder chosen in the export dialog, and control batches', async () => {
    const { call, service, dialogs, sender } = setup();
    await expect(call('convmap:open-folders-dialog', true)).resolves.toEqual({ photos: [PHOTO], failed: [], skipped: 2, models: [] });
    expect(dialogs.openFolders).toHaveBeenCalledWith(sender);
    expect(service.addFolders).toHaveBeenCalledWith({ paths: ['/photos'], recursive: true });
    await expect(call('convmap:open-folders-dialog', 'yes')).rejects.toThrow(/recursive must be a boolean/);
    await call('convmap:add-folders', { paths: ['/more'], recursive: false });
    expect(service.addFolders).toHaveBeenLastCalledWith({ paths: ['/more'], recursive: false });

    const exportTo = (outDir: string) => ({
      batchId: 'b1', modelId: 'm1', photoIds: ['p1'], scales: [1], mode: 'max',
      export: { outDir, classChoice: 'top', colormap: 'turbo', opacity: 0.5, threshold: 0.1, boxes: true, detectThreshold: 0.5, legend: true, namePattern: '{name}-{class}', scoresJson: true, csv: false },
    });
    await expect(call('convmap:run-batch', exportTo('/exports'))).rejects.toThrow(/convmap:run-batch refused: outDir "\/exports" was not chosen in the export dialog/);
    await expect(call('convmap:choose-export-folder')).resolves.toBe('/exports');
    expect(service.allowExportDir).toHaveBeenCalledWith('/exports');
    await expect(call('convmap:run-batch', exportTo('/exports'))).resolves.toMatchObject({ batchId: 'b1', done: 1 });
    await expect(call('convmap:run-batch', exportTo('/etc'))).rejects.toThrow(/was not chosen/);
    expect(service.runBatch).toHaveBeenCalledTimes(1);
    vi.mocked(dialogs.chooseExportFolder).mockResolvedValueOnce(null);
    await expect(call('convmap:choose-export-folder')).resolves.toBeNull();
    expect(service.allowExportDir).toHaveBeenCalledTimes(1);

    await call('convmap:pause-batch', 'b1');
    expect(service.pauseBatch).toHaveBeenCalledWith('b1');
    await call('convmap:resume-batch', 'b1');
    expect(service.resumeBatch).toHaveBeenCalledWith('b1');
  });

  it('show the dialogs over the asking window: the model dialog returns the path, the photos dialog opens what was chosen', async () => {
    const { call, service, dialogs, sender } = setup();
    await expect(call('convmap:open-model-dialog')).resolves.toBe('/m/model.json');
    expect(dialogs.openModel).toHaveBeenCalledWith(sender);
    expect(service.loadModel).not.toHaveBeenCalled();
    await expect(call('convmap:open-photos-dialog')).resolves.toEqual({ photos: [PHOTO], failed: [] });
    expect(service.addPhotos).toHaveBeenCalledWith(['/x.jpg']);
    vi.mocked(dialogs.openPhotos).mockResolvedValueOnce([]);
    vi.mocked(service.addPhotos).mockClear();
    await expect(call('convmap:open-photos-dialog')).resolves.toEqual({ photos: [], failed: [] });
    expect(service.addPhotos).not.toHaveBeenCalled();
  });
});
