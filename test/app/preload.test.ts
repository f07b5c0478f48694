import { beforeAll, describe, expect, it, vi } from 'vitest';
import { DROPPED_CHANNEL, type ConvmapApi } from '../../core/api';

/** The operations and events the preload must expose, written out here (not read from the table it is built from). */
const CHANNEL_OF: Record<string, string> = {
  backendInfo: 'convmap:backend-info', openModelDialog: 'convmap:open-model-dialog', loadModel: 'convmap:load-model', openLabelsDialog: 'convmap:open-labels-dialog',
  setPreprocess: 'convmap:set-preprocess', openPhotosDialog: 'convmap:open-photos-dialog', addPhotos: 'convmap:add-photos',
  demoScene: 'convmap:demo-scene', computeScores: 'convmap:compute-scores', cancel: 'convmap:cancel', recent: 'convmap:recent',
  openFoldersDialog: 'convmap:open-folders-dialog', addFolders: 'convmap:add-folders', chooseExportFolder: 'convmap:choose-export-folder',
  runBatch: 'convmap:run-batch', pauseBatch: 'convmap:pause-batch', resumeBatch: 'convmap:resume-batch', showInFolder: 'convmap:show-in-folder',
};
const EVENT_OF: Record<string, string> = { onProgress: 'convmap:progress', onOpenFiles: 'convmap:open-files', onBatch: 'convmap:batch', onMenu: 'convmap:menu' };

const electron = vi.hoisted(() => {
  const listeners = new Map<string, Set<(...a: unknown[]) => void>>();
  return {
    listeners,
    exposed: new Map<string, unknown>(),
    ipcRenderer: {
      invoke: vi.fn(async (channel: string, ...args: unknown[]): Promise<unknown> => ({ channel, args })),
      on: vi.fn((channel: string, l: (...a: unknown[]) => void) => {
        if (!listeners.has(channel)) listeners.set(channel, new Set());
        listeners.get(channel)?.add(l);
      }),
      removeListener: vi.fn((channel: string, l: (...a: unknown[]) => void) => void listeners.get(channel)?.delete(l)),
      send: vi.fn(),
    },
    webUtils: { getPathForFile: vi.fn((f: { name: string }) => `/dropped/${f.name}`) },
  };
});

vi.mock('electron', () => ({
  contextBridge: { exposeInMainWorld: (key: string, value: unknown) => void electron.exposed.set(key, value) },
  ipcRenderer: electron.ipcRenderer,
  webUtils: electron.webUtils,
}));

let api: ConvmapApi;
beforeAll(async () => {
  await import('../../main/electron/preload');
  api = electron.exposed.get('convmap') as ConvmapApi;
});

describe('the preload', () => {
  it('exposes only window.convmap, with exactly the ConvmapApi methods: one per invoke channel, one per event, and pathForFile', () => {
    expect([...electron.exposed.keys()]).toEqual(['convmap']);
    const methods = Object.keys(api).sort();
    expect(methods).toEqual([...Object.keys(CHANNEL_OF), ...Object.keys(EVENT_OF), 'pathForFile'].sort());
    for (const m of methods) expect(typeof (api as unknown as Record<string, unknown>)[m]).toBe('function');
    expect(Object.values(api)).not.toContain(electron.ipcRenderer);
  });

  it('makes each invoke method call ipcRenderer.invoke on its own channel with its arguments', async () => {
    const args: Record<string, unknown[]> = {
      loadModel: [{ path: null }],
      setPreprocess: [{ modelId: 'm', preprocess: 'unit' }],
      addPhotos: [['/a.jpg']],
      computeScores: [{ jobId: 'j', modelId: 'm', photoId: 'p', scales: [1] }],
      cancel: ['j'],
      openFoldersDialog: [true],
      addFolders: [{ paths: ['/photos'], recursive: false }],
      runBatch: [{ batchId: 'b', modelId: 'm', photoIds: ['p'], scales: [1], mode: 'max' }],
      pauseBatch: ['b'],
      resumeBatch: ['b'],
    };
    for (const [method, channel] of Object.entries(CHANNEL_OF)) {
      electron.ipcRenderer.invoke.mockClear();
      const fn = (api as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[method];
      const a = args[method] ?? [];
      await expect(fn(...a)).resolves.toEqual({ channel, args: a });
      expect(electron.ipcRenderer.invoke).toHaveBeenCalledTimes(1);
      expect(electron.ipcRenderer.invoke).toHaveBeenCalledWith(channel, ...a);
    }
  });

  it("turns Electron's remote-method rejection into the error main threw, AbortError included", async () => {
    electron.ipcRenderer.invoke.mockRejectedValueOnce(new Error("Error invoking remote method 'convmap:compute-scores': AbortError: the operation was cancelled"));
    await expect(api.computeScores({ jobId: 'j', modelId: 'm', photoId: 'p', scales: [1] })).rejects.toMatchObject({ name: 'AbortError', message: 'the operation was cancelled' });
    electron.ipcRenderer.invoke.mockRejectedValueOnce(new Error("Error invoking remote method 'convmap:add-photos': RefusedError: convmap:add-photos refused: paths[0] must be absolute"));
    await expect(api.addPhotos(['x'])).rejects.toMatchObject({ name: 'RefusedError', message: 'convmap:add-photos refused: paths[0] must be absolute' });
  });

  it('delivers events without the IpcRendererEvent, and unsubscribes', () => {
    const seen: unknown[][] = [];
    const off = api.onProgress((...a: unknown[]) => void seen.push(a));
    const offFiles = api.onOpenFiles((...a: unknown[]) => void seen.push(a));
    const offBatch = api.onBatch((...a: unknown[]) => void seen.push(a));
    const offMenu = api.onMenu((...a: unknown[]) => void seen.push(a));
    const event = { sender: electron.ipcRenderer, senderId: 0 };
    const progress = { jobId: 'j', stage: 'scale 1', done: 1, total: 2 };
    expect(Object.values(EVENT_OF).every((c) => electron.listeners.get(c)?.size === 1)).toBe(true);
    for (const l of electron.listeners.get('convmap:progress') ?? []) l(event, progress);
    for (const l of electron.listeners.get('convmap:open-files') ?? []) l(event, ['/a.jpg']);
    const batch = { type: 'photo', batchId: 'b', photoId: 'p', status: 'done' };
    for (const l of electron.listeners.get('convmap:batch') ?? []) l(event, batch);
    for (const l of electron.listeners.get('convmap:menu') ?? []) l(event, { command: 'shortcuts' });
    expect(seen).toEqual([[progress], [['/a.jpg']], [batch], [{ command: 'shortcuts' }]]);
    off();
    offFiles();
    offBatch();
    offMenu();
    expect(electron.listeners.get('convmap:menu')?.size).toBe(0);
    expect(electron.listeners.get('convmap:batch')?.size).toBe(0);
    expect(electron.listeners.get('convmap:progress')?.size).toBe(0);
    expect(electron.listeners.get('convmap:open-files')?.size).toBe(0);
  });

  it("answers pathForFile through webUtils and tells main the dropped path, and answers '' (telling nothing) when it throws", () => {
    expect(api.pathForFile({ name: 'a.jpg', size: 1, type: 'image/jpeg' })).toBe('/dropped/a.jpg');
    expect(electron.ipcRenderer.send.mock.calls).toEqual([[DROPPED_CHANNEL, '/dropped/a.jpg']]);
    electron.webUtils.getPathForFile.mockImplementationOnce(() => {
      throw new TypeError('not a File');
    });
    expect(api.pathForFile({ name: 'x', size: 0, type: '' })).toBe('');
    electron.webUtils.getPathForFile.mockImplementationOnce(() => '');
    expect(api.pathForFile({ name: 'y', size: 0, type: '' })).toBe('');
    expect(electron.ipcRenderer.send).toHaveBeenCalledTimes(1);
    expect(DROPPED_CHANNEL).toBe('convmap:dropped');
  });
});
