// The Electron main process with Electron mocked: lifecycle, window options, files handed by the OS.
import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { INVOKE_CHANNELS, PHOTO_SCHEME } from '../../core/api';
import { modelToArtifacts } from '../../main/model/artifacts';
import { randomizeWeights, useWasm } from '../helpers/models';

interface MenuItem {
  label?: string;
  role?: string;
  type?: string;
  click?: () => void;
  submenu?: MenuItem[];
}

const electron = await vi.hoisted(async () => (await import('./electron-fake')).createElectronFake());
vi.mock('electron', async () => (await import('./electron-fake')).electronModule(electron));

/** Waits for `cond`, polling, up to `ms` of wall time (generous: a loaded 2-core machine is slow, never wrong). */
async function until(cond: () => boolean, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}

/** OS threads of this process (Linux): each worker thread is one. */
function threads(): number {
  const m = /^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!m) throw new Error('no Threads line in /proc/self/status');
  return Number(m[1]);
}

/** The thread count once it has stayed the same for half a second (a finished worker may still be exiting). */
async function settledThreads(): Promise<number> {
  let last = threads();
  for (let same = 0, i = 0; same < 5 && i < 300; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const now = threads();
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}

/**
 * A classifier whose conversion takes a while: a 3×3 convolution, then a Dense layer of 256 units
 * over the flattened 22×22×16 map (2 M weights, 8 MB), then 3 classes. Written as model.json + weights.bin.
 */
async function writeSlowModel(dir: string): Promise<string> {
  await useWasm();
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [24, 24, 3], filters: 16, kernelSize: 3, activation: 'relu' }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 256, activation: 'relu' }),
      tf.layers.dense({ units: 3, activation: 'softmax' }),
    ],
  });
  randomizeWeights(model, 1111);
  const artifacts = await modelToArtifacts(model);
  model.dispose();
  const data = artifacts.weightData;
  const parts = data === undefined ? [] : Array.isArray(data) ? data : [data];
  await fs.mkdir(dir);
  const file = path.join(dir, 'model.json');
  await fs.writeFile(file, JSON.stringify({
    format: 'layers-model', modelTopology: artifacts.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
  }));
  await fs.writeFile(path.join(dir, 'weights.bin'), Buffer.concat(parts.map((b) => Buffer.from(b))));
  return file;
}

describe('the Electron main process (Electron mocked)', () => {
  let dir: string;
  let argvPhoto: string;
  let recentModel: string;
  let recentPhoto: string;
  const argv = process.argv;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-main-'));
    electron.userData = path.join(dir, 'user');
    electron.dialogAnswer = ['/photos/a.jpg', '/photos/b.png'];
    // Recents of an earlier session: File › Open Recent lists them from the start.
    await fs.mkdir(electron.userData, { recursive: true });
    recentModel = path.join(dir, 'models', 'pets', 'model.json');
    recentPhoto = path.join(dir, 'earlier.png');
    await sharp({ create: { width: 6, height: 4, channels: 3, background: '#336699' } }).png().toFile(recentPhoto);
    await fs.writeFile(path.join(electron.userData, 'recent.json'), JSON.stringify({ models: [recentModel], photos: [recentPhoto] }));
    argvPhoto = path.join(dir, 'argv.png');
    await fs.writeFile(argvPhoto, 'x');
    process.argv = [process.execPath, '.', '--inspect', argvPhoto, path.join(dir, 'missing.png')];
    await import('../../main/electron/main');
    await until(() => electron.windows.length === 1);
  });
  afterAll(async () => {
    process.argv = argv;
    // will-quit closes the service, then quits.
    const event = { preventDefault: vi.fn() };
    electron.appHandlers.get('will-quit')?.(event);
    expect(event.preventDefault).toHaveBeenCalled();
    await until(() => electron.quit.mock.calls.length > 0);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('registers both schemes before ready and serves them, and one IPC handler per channel', () => {
    expect(electron.schemes.map((s) => (s as { scheme: string }).scheme).sort()).toEqual(['convmap-app', PHOTO_SCHEME].sort());
    expect([...electron.protocolHandlers.keys()].sort()).toEqual(['convmap-app', PHOTO_SCHEME].sort());
    expect([...electron.ipcHandlers.keys()].sort()).toEqual([...INVOKE_CHANNELS].sort());
  });

  it('opens one window with the security settings, loading the app scheme (never file://)', () => {
    const win = electron.windows[0];
    const prefs = win.options.webPreferences as Record<string, unknown>;
    expect(prefs).toMatchObject({ contextIsolation: true, sandbox: true, nodeIntegration: false, webSecurity: true, webviewTag: false });
    expect(String(prefs.preload)).toMatch(/preload[/\\]preload\.cjs$/);
    expect(win.loaded).toBe('convmap-app://renderer/index.html');
  });

  it('denies permissions and hardens every web contents the app creates', () => {
    expect(electron.session.setPermissionRequestHandler).toHaveBeenCalled();
    expect(electron.session.webRequest.onBeforeRequest).toHaveBeenCalled();
    const contents = { on: vi.fn(), setWindowOpenHandler: vi.fn() };
    electron.appHandlers.get('web-contents-created')?.({}, contents);
    expect(contents.on.mock.calls.map((c) => c[0])).toEqual(expect.arrayContaining(['will-navigate', 'will-attach-webview']));
    const deny = contents.setWindowOpenHandler.mock.calls[0][0] as (d: { url: string }) => unknown;
    expect(deny({ url: 'https://example.com/' })).toEqual({ action: 'deny' });
  });

  it('hands command-line files to the window once its page has loaded, then second-launch and open-file files directly', async () => {
    const win = electron.windows[0];
    const opened = () => win.webContents.sent.filter(([c]) => c === 'convmap:open-files').map(([, p]) => p);
    expect(opened()).toEqual([]);
    win.webContents.handlers.get('did-finish-load')?.();
    // The command line's files are checked on disk first (filesFromArgv): they arrive when that ends.
    await until(() => opened().length === 1);
    expect(opened()).toEqual([[argvPhoto]]);
    electron.appHandlers.get('second-instance')?.({}, ['/opt/Convmap/convmap', '.', '--flag', 'argv.png'], dir);
    await until(() => opened().length === 2);
    expect(opened()).toEqual([[argvPhoto], [argvPhoto]]);
    expect(win.focus).toHaveBeenCalled();
    const openFile = { preventDefault: vi.fn() };
    electron.appHandlers.get('open-file')?.(openFile, '/Users/x/cat.jpg');
    expect(openFile.preventDefault).toHaveBeenCalled();
    expect(opened().at(-1)).toEqual(['/Users/x/cat.jpg']);
  });

  it('has File › Open Model…, Open Photos… and Quit; Open Photos shows the dialog and hands the chosen files to the window', async () => {
    const menu = electron.menus[0] as { label?: string; submenu?: { label?: string; role?: string; click?: () => void }[] }[];
    const file = menu.find((m) => m.label === 'File');
    const items = file?.submenu ?? [];
    expect(items.map((i) => i.label ?? i.role)).toEqual(expect.arrayContaining(['Open Model…', 'Open Photos…', 'Quit']));
    const win = electron.windows[0];
    items.find((i) => i.label === 'Open Photos…')?.click?.();
    await until(() => win.webContents.sent.some(([c, p]) => c === 'convmap:open-files' && JSON.stringify(p) === JSON.stringify(['/photos/a.jpg', '/photos/b.png'])));
    expect(electron.showOpenDialog).toHaveBeenCalledWith(win, expect.objectContaining({ properties: ['openFile', 'multiSelections'] }));
  });

  it('refuses IPC from a sender that is not its window', async () => {
    const handler = electron.ipcHandlers.get('convmap:recent');
    const foreign = { sender: {}, senderFrame: { url: 'convmap-app://renderer/index.html', parent: null } };
    await expect(handler?.(foreign)).rejects.toThrow(/refused: the sender is not one of the app's windows/);
    const ours = { sender: electron.windows[0].webContents, senderFrame: { url: 'convmap-app://renderer/index.html', parent: null } };
    await expect(handler?.(ours)).resolves.toEqual({ models: [recentModel], photos: [recentPhoto] });
  });

  const ours = () => ({ sender: electron.windows[0].webContents, senderFrame: { url: 'convmap-app://renderer/index.html', parent: null } });
  /** The menu set last (main rebuilds it when the recent list changes). */
  const fileMenu = () => ((electron.menus.at(-1) as MenuItem[]).find((m) => m.label === 'File')?.submenu ?? []);
  const item = (items: MenuItem[], label: string): MenuItem => {
    const found = items.find((i) => i.label === label);
    if (!found) throw new Error(`no menu item "${label}" in ${items.map((i) => i.label ?? i.role).join(', ')}`);
    return found;
  };
  const menuSent = () => electron.windows[0].webContents.sent.filter(([c]) => c === 'convmap:menu').map(([, p]) => p);

  it.each([
    ['File', 'Export Photo…', { command: 'export-photo' }],
    ['File', 'Export All Photos…', { command: 'export-all' }],
    ['File', 'Built-in digits model', { command: 'open-model', path: null }],
    ['Help', 'Keyboard Shortcuts', { command: 'shortcuts' }],
  ])('%s › %s sends %j to the window on convmap:menu', (menu, label, command) => {
    const before = menuSent().length;
    const items = (electron.menus.at(-1) as MenuItem[]).find((m) => m.label === menu)?.submenu ?? [];
    item(items, label).click?.();
    expect(menuSent().slice(before)).toEqual([command]);
  });

  it('Open Recent lists the recent list; a recent photo goes to the window as an opened file, a recent model as open-model, and main accepts both paths', async () => {
    await until(() => (item(fileMenu(), 'Open Recent').submenu ?? []).length > 1);
    const recent = item(fileMenu(), 'Open Recent').submenu ?? [];
    expect(recent.map((i) => i.label ?? i.type)).toEqual(['Built-in digits model', 'pets', 'separator', 'earlier.png']);
    const win = electron.windows[0];
    const before = win.webContents.sent.length;
    item(recent, 'earlier.png').click?.();
    item(recent, 'pets').click?.();
    expect(win.webContents.sent.slice(before)).toEqual([['convmap:open-files', [recentPhoto]], ['convmap:menu', { command: 'open-model', path: recentModel }]]);
    // The registry of chosen paths now holds both: the photo opens, the model is not refused (it fails on the missing file instead).
    const opened = await electron.ipcHandlers.get('convmap:add-photos')?.(ours(), [recentPhoto]) as { photos: { name: string }[] };
    expect(opened.photos.map((p) => p.name)).toEqual(['earlier.png']);
    const load = electron.ipcHandlers.get('convmap:load-model')?.(ours(), { path: recentModel }) as Promise<unknown>;
    const err = await load.then(() => new Error('loaded a missing model'), (e: unknown) => e as Error);
    expect(err.message).toMatch(/model\.json/);
    expect(err.message).not.toMatch(/refused|not chosen/);
    await expect(electron.ipcHandlers.get('convmap:load-model')?.(ours(), { path: path.join(dir, 'other', 'model.json') })).rejects.toThrow(/not chosen by the user/);
  });

  it('rebuilds Open Recent when the recent list changes (photos opened)', async () => {
    const fresh = path.join(dir, 'fresh.png');
    await sharp({ create: { width: 5, height: 5, channels: 3, background: '#aa2200' } }).png().toFile(fresh);
    electron.appHandlers.get('open-file')?.({ preventDefault: vi.fn() }, fresh);
    await electron.ipcHandlers.get('convmap:add-photos')?.(ours(), [fresh]);
    await until(() => (item(fileMenu(), 'Open Recent').submenu ?? []).some((i) => i.label === 'fresh.png'));
    expect((item(fileMenu(), 'Open Recent').submenu ?? []).map((i) => i.label ?? i.type)).toEqual(['Built-in digits model', 'pets', 'separator', 'fresh.png', 'earlier.png']);
  });
  it.skipIf(process.platform !== 'linux')('a reload or Cancel during a conversion ends its worker; nothing of it reaches the new page, and the next conversion works', async () => {
    const win = electron.windows[0];
    const ours = { sender: win.webContents, senderFrame: { url: 'convmap-app://renderer/index.html', parent: null } };
    const invoke = (channel: string, ...args: unknown[]) => electron.ipcHandlers.get(channel)?.(ours, ...args) as Promise<unknown>;
    const progressOf = (jobId: string, from = 0) => win.webContents.sent.slice(from)
      .filter(([c, p]) => c === 'convmap:progress' && (p as { jobId: string }).jobId === jobId)
      .map(([, p]) => (p as { stage: string }).stage);
    const modelFile = await writeSlowModel(path.join(dir, 'slow'));
    // The engine and the built-in model first, so that what stays running between conversions is running.
    await invoke('convmap:load-model', { jobId: 'builtin', path: null });
    const baseline = await settledThreads();
    electron.showOpenDialog.mockResolvedValueOnce({ canceled: false, filePaths: [modelFile] });
    expect(await invoke('convmap:open-model-dialog')).toBe(modelFile);
    const outcome = (p: Promise<unknown>) => p.then(() => 'loaded', (e: Error) => e.name);

    // Reload while the conversion worker runs.
    const reloaded = outcome(invoke('convmap:load-model', { jobId: 'slow-1', path: modelFile }));
    await until(() => progressOf('slow-1').length > 0, 90_000);
    expect(threads()).toBeGreaterThan(baseline);
    win.webContents.handlers.get('did-start-loading')?.();
    const afterReload = win.webContents.sent.length;
    expect(await reloaded).toBe('AbortError');
    await until(() => threads() <= baseline, 90_000);

    // The user's Cancel on the next page: the same job mechanism.
    const cancelled = outcome(invoke('convmap:load-model', { jobId: 'slow-2', path: modelFile }));
    await until(() => progressOf('slow-2').length > 0, 90_000);
    await invoke('convmap:cancel', 'slow-2');
    expect(await cancelled).toBe('AbortError');
    await until(() => threads() <= baseline, 90_000);

    // A conversion left alone runs to 'ready'; by then any late event of the cancelled ones would have come.
    const done = await invoke('convmap:load-model', { jobId: 'slow-3', path: modelFile }) as { info: { labels: string[] } };
    expect(done.info.labels).toHaveLength(3);
    expect(progressOf('slow-3')).toContain('ready');
    expect(progressOf('slow-1', afterReload)).toEqual([]);
    expect(progressOf('slow-1')).not.toContain('ready');
    expect(progressOf('slow-2')).not.toContain('ready');
  }, 600_000);
});
