import { describe, expect, it, vi } from 'vitest';
import { makeRecipe } from '../../core/recipe';
import { DROPPED_CHANNEL, INVOKE_CHANNELS, INVOKES, type InvokeChannel, type PhotoRef } from '../../core/api';
import { ChosenPaths } from '../../main/electron/chosen';
import { PhotoIdentities } from '../../main/electron/photo-identity';
import { registerIpc, rendererError, type Dialogs } from '../../main/electron/ipc';
import type { AppService } from '../../main/services/window/app-service';

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
    onRecent: vi.fn(() => () => undefined),
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
  const listeners = new Map<string, (event: unknown, ...args: unknown[]) => void>();
  const ipcMain = {
    handle: vi.fn((channel: string, h: Handler) => void handlers.set(channel, h)),
    removeHandler: vi.fn((channel: string) => void handlers.delete(channel)),
    on: vi.fn((channel: string, l: (event: unknown, ...args: unknown[]) => void) => void listeners.set(channel, l)),
    removeListener: vi.fn((channel: string) => void listeners.delete(channel)),
  };
  const service = fakeService();
  const dialogs: Dialogs = {
    openModel: vi.fn(async () => '/m/model.json'),
    openLabels: vi.fn(async () => '/m/labels.txt'),
    openPhotos: vi.fn(async () => ['/x.jpg']),
    openFolders: vi.fn(async () => ['/photos']),
    chooseExportFolder: vi.fn(async () => '/exports'),
  };
  const log = vi.fn();
  const chosen = new ChosenPaths();
  chosen.grant(['/a.jpg', '/m.json', '/more'], 'dialog');
  const shell = { showItemInFolder: vi.fn() };
  const { unregister, endJobsOf } = registerIpc({ ipcMain: ipcMain as never, service, dialogs, shell, chosen, identities: new PhotoIdentities(), log, senderRefusal: () => refusal });
  const sender = { id: 1 };
  const callFrom = (from: unknown, channel: InvokeChannel, ...args: unknown[]) => {
    const h = handlers.get(channel);
    if (!h) throw new Error(`no handler for ${channel}`);
    return h({ sender: from }, ...args);
  };
  const call = (channel: InvokeChannel, ...args: unknown[]) => callFrom(sender, channel, ...args);
  const drop = (...args: unknown[]) => listeners.get(DROPPED_CHANNEL)?.({ sender }, ...args);
  return { handlers, listeners, ipcMain, service, dialogs, shell, log, unregister, endJobsOf, call, callFrom, drop, sender, chosen };
}

describe('IPC handlers', () => {
  it('register exactly one handler per entry of the channel table and the drop message, and remove them all again', () => {
    const { handlers, listeners, unregister } = setup();
    expect([...handlers.keys()].sort()).toEqual(Object.values(INVOKES).map((e) => e.channel).sort());
    expect(new Set(INVOKE_CHANNELS).size).toBe(Object.keys(INVOKES).length);
    expect([...listeners.keys()]).toEqual([DROPPED_CHANNEL]);
    unregister();
    expect(handlers.size).toBe(0);
    expect(listeners.size).toBe(0);
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
    await expect(call('convmap:add-photos', ['/etc/passwd'])).rejects.toThrow('convmap:add-photos refused: paths[0] "/etc/passwd" was not chosen by the user');
    await expect(call('convmap:cancel')).rejects.toThrow(/takes one argument, got 0/);
    await expect(call('convmap:recent', 'x')).rejects.toThrow(/takes no arguments/);
    expect(service.computeScores).not.toHaveBeenCalled();
    expect(service.addPhotos).not.toHaveBeenCalled();
    expect(service.loadModel).not.toHaveBeenCalled();
    expect(log.mock.calls.map((c) => String(c[0]))).toHaveLength(7);
  });

  it('pass valid arguments to the service and return its answer', async () => {
    const { call, service } = setup();
    const req = { jobId: 'j', modelId: 'm1', photoId: 'p1', scales: [1, 2] };
    await expect(call('convmap:compute-scores', req)).resolves.toMatchObject({ jobId: 'j', photoId: 'p1' });
    expect(service.computeScores).toHaveBeenCalledWith(req);
    await call('convmap:load-model', { jobId: 'load-1', path: null, preprocess: 'unit' });
    expect(service.loadModel).toHaveBeenCalledWith({ jobId: 'load-1', path: null, preprocess: 'unit' });
    // Without a job id from the page, main names the conversion, so that it is one of the window's jobs.
    await call('convmap:load-model', { path: null });
    expect(service.loadModel).toHaveBeenLastCalledWith({ jobId: 'load-model:ipc-1', path: null });
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
      batchId: 'b1', modelId: 'm1', photoIds: ['p1'],
      recipe: makeRecipe({ scales: [1], classChoice: 'top', view: 'absolute', colormap: 'turbo', opacity: 0.5, threshold: 0.1, boxes: true, namePattern: '{name}-{class}' }),
      export: { outDir },
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

describe('paths the renderer may hand back', () => {
  const chosenError = (channel: string, what: string, p: string) => `${channel} refused: ${what} "${p}" was not chosen by the user`;

  it('refuse, on every path-taking channel, a path the user never chose, and log why', async () => {
    const { call, service, log } = setup();
    await expect(call('convmap:add-photos', ['/a.jpg', '/usr/share/pixmaps/x.png'])).rejects.toThrow(chosenError('convmap:add-photos', 'paths[1]', '/usr/share/pixmaps/x.png'));
    await expect(call('convmap:add-folders', { paths: ['/usr'], recursive: true })).rejects.toThrow(chosenError('convmap:add-folders', 'paths[0]', '/usr'));
    await expect(call('convmap:load-model', { path: '/etc/passwd' })).rejects.toThrow(chosenError('convmap:load-model', 'path', '/etc/passwd'));
    // A path that resolves outside what was chosen is the path it resolves to.
    await expect(call('convmap:add-photos', ['/more/../etc/passwd'])).rejects.toThrow(/"\/more\/\.\.\/etc\/passwd" was not chosen/);
    expect(service.addPhotos).not.toHaveBeenCalled();
    expect(service.addFolders).not.toHaveBeenCalled();
    expect(service.loadModel).not.toHaveBeenCalled();
    expect(log.mock.calls.map((c) => String(c[0]))).toEqual([
      expect.stringMatching(/^\[ipc\] convmap:add-photos refused: paths\[1\] "\/usr\/share\/pixmaps\/x\.png" was not chosen/),
      expect.stringMatching(/^\[ipc\] convmap:add-folders refused/),
      expect.stringMatching(/^\[ipc\] convmap:load-model refused/),
      expect.stringMatching(/^\[ipc\] convmap:add-photos refused/),
    ]);
  });

  it("accept what the model dialog answered, a dropped file's path, recent items, and folders main found holding a model", async () => {
    const { call, service, drop } = setup();
    await expect(call('convmap:load-model', { path: '/m/model.json' })).rejects.toThrow(/was not chosen/);
    await call('convmap:open-model-dialog');
    await call('convmap:load-model', { path: '/m/model.json' });
    expect(service.loadModel).toHaveBeenCalledWith({ jobId: expect.stringMatching(/^load-model:/), path: '/m/model.json' });

    await expect(call('convmap:add-photos', ['/drop/cat.png'])).rejects.toThrow(/was not chosen/);
    drop('/drop/cat.png');
    await call('convmap:add-photos', ['/drop/cat.png']);
    expect(service.addPhotos).toHaveBeenCalledWith(['/drop/cat.png']);

    vi.mocked(service.recent).mockResolvedValueOnce({ models: ['/old/model.h5'], photos: ['/old/dog.jpg'] });
    await expect(call('convmap:add-photos', ['/old/dog.jpg'])).rejects.toThrow(/was not chosen/);
    await call('convmap:recent');
    await call('convmap:add-photos', ['/old/dog.jpg']);
    await call('convmap:load-model', { path: '/old/model.h5' });

    vi.mocked(service.addFolders).mockResolvedValueOnce({ photos: [], failed: [], skipped: 0, models: ['/more/tm-model'] });
    await call('convmap:add-folders', { paths: ['/more'], recursive: false });
    await call('convmap:load-model', { path: '/more/tm-model' });
    expect(service.loadModel).toHaveBeenLastCalledWith({ jobId: expect.stringMatching(/^load-model:/), path: '/more/tm-model' });
  });

  it('take a label file only once the labels dialog answered it, and an output name only as a bounded string', async () => {
    const { call, service, dialogs, sender, log } = setup();
    // A path the renderer names itself is refused before the service reads it.
    await expect(call('convmap:load-model', { path: null, labelsFile: '/etc/passwd' })).rejects.toThrow(chosenError('convmap:load-model', 'labelsFile', '/etc/passwd'));
    await expect(call('convmap:load-model', { path: null, labelsFile: '/m/labels.txt' })).rejects.toThrow(chosenError('convmap:load-model', 'labelsFile', '/m/labels.txt'));
    await expect(call('convmap:load-model', { path: null, labelsFile: 'labels.txt' })).rejects.toThrow('convmap:load-model refused: labelsFile must be absolute, got "labels.txt"');
    await expect(call('convmap:load-model', { path: null, output: 7 })).rejects.toThrow('convmap:load-model refused: output must be a string, got number');
    await expect(call('convmap:load-model', { path: null, output: 'x'.repeat(129) })).rejects.toThrow('convmap:load-model refused: output must be 1–128 characters, got 129');
    expect(service.loadModel).not.toHaveBeenCalled();
    expect(log).toHaveBeenCalledTimes(5);

    vi.mocked(dialogs.openLabels).mockResolvedValueOnce(null);
    await expect(call('convmap:open-labels-dialog')).resolves.toBeNull();
    await expect(call('convmap:open-labels-dialog')).resolves.toBe('/m/labels.txt');
    expect(dialogs.openLabels).toHaveBeenCalledWith(sender);
    await call('convmap:load-model', { path: null, labelsFile: '/m/labels.txt', output: 'age' });
    expect(service.loadModel).toHaveBeenCalledWith({ jobId: expect.stringMatching(/^load-model:/), path: null, labelsFile: '/m/labels.txt', output: 'age' });
    // Granted as a label file, it is not thereby something else's path: only what was chosen passes, whatever the field.
    await expect(call('convmap:load-model', { path: null, labelsFile: '/m/other.txt' })).rejects.toThrow(/was not chosen/);
  });

  it('ignore a drop message from a foreign sender or with a bad path', async () => {
    const { call, listeners, log } = setup("the sender's page https://evil.example/ is not the app's");
    listeners.get(DROPPED_CHANNEL)?.({ sender: {} }, '/etc/passwd');
    expect(log).toHaveBeenLastCalledWith("[ipc] convmap:dropped refused: the sender's page https://evil.example/ is not the app's");
    const ok = setup();
    ok.drop('relative.png');
    expect(ok.log).toHaveBeenLastCalledWith('[ipc] convmap:dropped refused: dropped path must be absolute, got "relative.png"');
    ok.drop('/a.png', '/b.png');
    expect(ok.log).toHaveBeenLastCalledWith('[ipc] convmap:dropped refused: takes one argument, got 2');
    await expect(ok.call('convmap:add-photos', ['/b.png'])).rejects.toThrow(/was not chosen/);
    await expect(call('convmap:add-photos', ['/etc/passwd'])).rejects.toThrow(/refused/);
  });
});

describe('Show in folder', () => {
  it('opens the file manager on a file an export wrote, or its chosen folder, and refuses any other path without calling the shell', async () => {
    const { call, service, shell, log } = setup();
    const req = {
      batchId: 'b1', modelId: 'm1', photoIds: ['p1'],
      recipe: makeRecipe({ scales: [1], classChoice: 'top', view: 'absolute', colormap: 'turbo', opacity: 0.5, threshold: 0.1, namePattern: '{name}', scores: 'none' }),
      export: { outDir: '/exports' },
    };
    vi.mocked(service.runBatch).mockResolvedValueOnce({
      batchId: 'b1', total: 1, done: 1, failed: [], statuses: ['done'], skipped: 0, cancelled: false, cacheHits: 0, elapsedMs: 1, outputs: ['/exports/a.heatmap.png'],
    });
    // Before the export wrote it, the file is just a path the renderer names.
    await expect(call('convmap:show-in-folder', '/exports/a.heatmap.png')).rejects.toThrow('convmap:show-in-folder refused: path "/exports/a.heatmap.png" is neither one the user chose nor an export written in this session');
    await call('convmap:choose-export-folder');
    await call('convmap:run-batch', req);
    await call('convmap:show-in-folder', '/exports/a.heatmap.png');
    expect(shell.showItemInFolder).toHaveBeenLastCalledWith('/exports/a.heatmap.png');
    await call('convmap:show-in-folder', '/exports');
    expect(shell.showItemInFolder).toHaveBeenLastCalledWith('/exports');
    // A photo the user chose may be shown; anything else is refused, also through '..'.
    await call('convmap:show-in-folder', '/a.jpg');
    expect(shell.showItemInFolder).toHaveBeenCalledTimes(3);
    for (const p of ['/etc/passwd', '/exports/../etc/passwd', '/exports/b.heatmap.png']) {
      await expect(call('convmap:show-in-folder', p)).rejects.toThrow(`convmap:show-in-folder refused: path "${p}" is neither one the user chose nor an export written in this session`);
    }
    await expect(call('convmap:show-in-folder', 'exports')).rejects.toThrow('convmap:show-in-folder refused: path must be absolute, got "exports"');
    await expect(call('convmap:show-in-folder', ['/exports'])).rejects.toThrow('convmap:show-in-folder refused: path must be a string, got an array of 1');
    expect(shell.showItemInFolder).toHaveBeenCalledTimes(3);
    expect(log).toHaveBeenLastCalledWith(expect.stringMatching(/^\[ipc\] convmap:show-in-folder refused: path must be a string/));
  });
});

describe('the jobs of a window', () => {
  it("end when its page reloads or closes: only that window's running jobs are cancelled", async () => {
    const { callFrom, service, endJobsOf, sender } = setup();
    const other = { id: 2 };
    const release: (() => void)[] = [];
    vi.mocked(service.computeScores).mockImplementation((req) => new Promise((resolve) => release.push(() => resolve({ jobId: req.jobId, photoId: req.photoId, modelId: req.modelId, maps: [], elapsedMs: 1 }))));
    const a = callFrom(sender, 'convmap:compute-scores', { jobId: 'a', modelId: 'm1', photoId: 'p1', scales: [1] });
    const b = callFrom(other, 'convmap:compute-scores', { jobId: 'b', modelId: 'm1', photoId: 'p1', scales: [1] });
    const done = callFrom(sender, 'convmap:compute-scores', { jobId: 'c', modelId: 'm1', photoId: 'p1', scales: [1] });
    await vi.waitFor(() => expect(release).toHaveLength(3));
    // Conversions are the window's jobs too, named by the page or else by main.
    vi.mocked(service.loadModel).mockImplementation((req) => new Promise((resolve) => release.push(() => resolve({ id: req.jobId ?? '', path: null, name: 'm', info: {} as never }))));
    const named = callFrom(sender, 'convmap:load-model', { jobId: 'load-a', path: null });
    const unnamed = callFrom(sender, 'convmap:load-model', { path: null });
    await vi.waitFor(() => expect(release).toHaveLength(5));
    release[2]();
    await done;
    endJobsOf(sender as never);
    expect(vi.mocked(service.cancel).mock.calls).toEqual([['a'], ['load-a'], ['load-model:ipc-1']]);
    endJobsOf(sender as never);
    expect(service.cancel).toHaveBeenCalledTimes(3);
    for (const r of [release[0], release[1], release[3], release[4]]) r();
    await Promise.all([a, b, named, unnamed]);
  });
});

describe('errors sent to the renderer', () => {
  it("never quote a file's content from a JSON parse error, and keep the error's name", () => {
    let parseError: unknown;
    try {
      JSON.parse('root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1');
    } catch (err) {
      parseError = err;
    }
    const wrapped = new Error(`model.json: ${(parseError as Error).message}`);
    expect(wrapped.message).toContain('root:x');
    const out = rendererError(wrapped);
    expect(out.message).toBe('model.json: not valid JSON');
    expect(rendererError(new SyntaxError('"root:x:0:0:root:/root:/bin/bash" is not valid JSON')).message).toBe('not valid JSON');
    const abort = new Error('job j cancelled');
    abort.name = 'AbortError';
    expect(rendererError(abort)).toMatchObject({ name: 'AbortError', message: 'job j cancelled' });
  });
});
