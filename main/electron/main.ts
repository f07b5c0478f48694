/**
 * The Electron main process: lifecycle, the window, menus, dialogs, and wiring of the Electron-free
 * app service (main/services/window/app-service.ts) to IPC and the photo scheme. Thin on purpose: what can
 * be tested without Electron lives in the service, validate.ts, security.ts, protocol.ts and
 * open-files.ts.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { app, BrowserWindow, dialog, ipcMain, Menu, session, shell, type WebContents } from 'electron';
import type { EventChannel, EventPayload, MenuCommand, RecentItems } from '../../core/api';
import { printable } from '../../core/printable';
import { MODEL_EXTENSIONS, PHOTO_EXTENSIONS } from '../../core/formats';
import { createAppService, type AppService } from '../services/window/app-service';
import { setDecodeSpawner } from '../io/decode-host';
import { utilityDecodeChild, utilityOnnxHost } from './onnx-utility';
import { ChosenPaths, type ChosenBy } from './chosen';
import { registerIpc, type Dialogs, type IpcRegistration } from './ipc';
import { menuTemplate } from './menu';
import { filesFromArgv, OpenFilesQueue } from './open-files';
import { PhotoIdentities } from './photo-identity';
import { APP_ORIGIN, handleSchemes, registerSchemePrivileges } from './protocol';
import { contentSecurityPolicy, hardenContents, hardenSession, secureWebPreferences } from './security';
import { senderRefusal, type AppOrigins } from './validate';

const here = path.dirname(fileURLToPath(import.meta.url));
const devServerUrl = !app.isPackaged ? process.env.ELECTRON_RENDERER_URL : undefined;
const origins: AppOrigins = { appOrigin: APP_ORIGIN, devServerUrl };
const csp = contentSecurityPolicy(devServerUrl !== undefined);
// Log lines carry paths and URLs from the renderer and from disk: control characters are escaped.
const log = (line: string): void => console.warn(printable(line));


const windows = new Set<BrowserWindow>();
const openFiles = new OpenFilesQueue();
/** The paths the renderer may hand back: only what the user chose (issue 13). */
const chosen = new ChosenPaths();
/** Which file each photo id stands for (checked by the photo protocol). */
const identities = new PhotoIdentities();
let service: AppService | undefined;
let ipc: IpcRegistration | undefined;

/** Files the user chose outside the window's own dialogs go to the window, which opens them by path. */
function handOver(paths: string[], by: ChosenBy): void {
  chosen.grant(paths, by);
  openFiles.push(paths);
}

function builtinModelDir(): string {
  return app.isPackaged ? path.join(process.resourcesPath, 'digits-model') : path.join(app.getAppPath(), 'main', 'digits', 'model');
}

function send<C extends EventChannel>(channel: C, payload: EventPayload<C>): void {
  for (const w of windows) if (!w.isDestroyed()) w.webContents.send(channel, payload);
}

function windowOf(contents: WebContents): BrowserWindow | undefined {
  const w = BrowserWindow.fromWebContents(contents);
  return w && windows.has(w) ? w : undefined;
}

/** The paths picked in an open dialog (attached to the sender's window when it has one); [] when cancelled. */
async function chosenPaths(sender: WebContents, opts: Electron.OpenDialogOptions): Promise<string[]> {
  const win = windowOf(sender);
  const r = win ? await dialog.showOpenDialog(win, opts) : await dialog.showOpenDialog(opts);
  return r.canceled ? [] : r.filePaths;
}

const first = (paths: string[]): string | null => paths[0] ?? null;

const dialogs: Dialogs = {
  async openModel(sender) {
    return first(await chosenPaths(sender, {
      title: 'Open Model',
      properties: ['openFile'],
      filters: [{ name: 'Models (model.json, Keras .h5/.keras, ONNX, a Teachable Machine .zip)', extensions: [...MODEL_EXTENSIONS, 'zip'] }, { name: 'All files', extensions: ['*'] }],
    }));
  },
  async openLabels(sender) {
    return first(await chosenPaths(sender, {
      title: 'Labels for the Model',
      properties: ['openFile'],
      filters: [{ name: 'Labels (one a line, or a JSON array)', extensions: ['txt', 'json', 'csv'] }, { name: 'All files', extensions: ['*'] }],
    }));
  },
  async openPhotos(sender) {
    return chosenPaths(sender, {
      title: 'Open Photos',
      properties: ['openFile', 'multiSelections'],
      filters: [{ name: 'Images', extensions: [...PHOTO_EXTENSIONS] }, { name: 'All files', extensions: ['*'] }],
    });
  },
  async openFolders(sender) {
    return chosenPaths(sender, { title: 'Open Folders of Photos', properties: ['openDirectory', 'multiSelections'] });
  },
  async chooseExportFolder(sender) {
    return first(await chosenPaths(sender, { title: 'Export Overlays To', buttonLabel: 'Export Here', properties: ['openDirectory', 'createDirectory'] }));
  },
};

/** Menu items hand the chosen paths to the window like any other opened files; it sorts and opens them. */
async function menuOpen(kind: 'model' | 'photos' | 'folders'): Promise<void> {
  const win = BrowserWindow.getFocusedWindow() ?? [...windows][0];
  if (!win) return;
  let paths: string[];
  if (kind === 'model') paths = [await dialogs.openModel(win.webContents)].filter((p): p is string => p !== null);
  else if (kind === 'photos') paths = await dialogs.openPhotos(win.webContents);
  else paths = await dialogs.openFolders(win.webContents);
  handOver(paths, 'dialog');
}

/** A menu item the window carries out itself (export, the shortcut sheet, loading a model): sent to the focused window. */
function sendMenu(command: MenuCommand): void {
  const win = BrowserWindow.getFocusedWindow() ?? [...windows][0];
  if (win && windows.has(win) && !win.isDestroyed()) win.webContents.send('convmap:menu' satisfies EventChannel, command satisfies EventPayload<'convmap:menu'>);
}

/** Sets the application menu, its Open Recent built from `recent`. */
function setMenu(recent: RecentItems): void {
  Menu.setApplicationMenu(Menu.buildFromTemplate(menuTemplate({
    openModel: () => void menuOpen('model'),
    openPhotos: () => void menuOpen('photos'),
    openFolders: () => void menuOpen('folders'),
    loadModel: (p) => {
      // A recent model is one the user chose before: the window may load it by path.
      if (p !== null) chosen.grant([p], 'recent');
      sendMenu({ command: 'open-model', path: p });
    },
    openRecentPhoto: (p) => handOver([p], 'recent'),
    exportPhoto: () => sendMenu({ command: 'export-photo' }),
    exportAll: () => sendMenu({ command: 'export-all' }),
    showShortcuts: () => sendMenu({ command: 'shortcuts' }),
  }, process.platform, !app.isPackaged, recent)));
}

function createWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1280,
    height: 860,
    minWidth: 720,
    minHeight: 480,
    title: 'Convmap',
    show: false,
    backgroundColor: '#1e1e1e',
    webPreferences: secureWebPreferences(path.join(here, '../preload/preload.cjs')),
  });
  windows.add(win);
  win.once('ready-to-show', () => win.show());
  const contents = win.webContents;
  // A reload or a crash ends the jobs the page started: nobody is left to show or cancel them.
  contents.on('did-start-loading', () => {
    openFiles.detach();
    ipc?.endJobsOf(contents);
  });
  contents.on('render-process-gone', () => ipc?.endJobsOf(contents));
  contents.on('did-finish-load', () => openFiles.attach((paths) => contents.send('convmap:open-files' satisfies EventChannel, paths)));
  win.on('closed', () => {
    windows.delete(win);
    openFiles.detach();
    ipc?.endJobsOf(contents);
  });
  void win.loadURL(devServerUrl ?? `${APP_ORIGIN}/index.html`);
  return win;
}

function focusWindow(): void {
  const win = [...windows][0];
  if (!win) return;
  if (win.isMinimized()) win.restore();
  win.focus();
}

async function start(): Promise<void> {
  // Photos decode in utility processes, which Cancel can kill (fork would need ELECTRON_RUN_AS_NODE).
  setDecodeSpawner(utilityDecodeChild);
  service = await createAppService({
    userDataDir: app.getPath('userData'), builtinModelDir: builtinModelDir(), engine: { spawnOnnxHost: utilityOnnxHost },
    // BullMQ is loaded when an export first names a queue.
    queueExport: async (req) => (await import('../queue/submit')).runQueueExport(req),
  });
  service.onProgress((e) => send('convmap:progress', e));
  service.onBatch((e) => send('convmap:batch', e));
  hardenSession(session.defaultSession, origins, csp, log);
  handleSchemes(service, identities, path.join(here, '../renderer'), csp, log);
  ipc = registerIpc({
    ipcMain,
    service,
    dialogs,
    shell,
    chosen,
    identities,
    log,
    senderRefusal: (event) => senderRefusal(event.senderFrame, windowOf(event.sender) !== undefined, origins),
  });
  setMenu({ models: [], photos: [] });
  service.onRecent(setMenu);
  const s = service;
  void s.recent().then(setMenu, (err: unknown) => log(`[app] reading the recent list: ${String(err)}`));
  createWindow();
}

registerSchemePrivileges();

if (!app.requestSingleInstanceLock()) {
  // Another instance runs: it receives our argv through 'second-instance'.
  app.quit();
} else {
  void filesFromArgv(process.argv, { cwd: process.cwd(), packaged: app.isPackaged }).then((paths) => handOver(paths, 'command line'));
  app.on('second-instance', (_event, argv, workingDirectory) => {
    void filesFromArgv(argv, { cwd: workingDirectory, packaged: app.isPackaged }).then((paths) => handOver(paths, 'command line'));
    focusWindow();
  });
  // macOS "Open with" and dock drops; may fire before ready.
  app.on('open-file', (event, file) => {
    event.preventDefault();
    handOver([file], 'open-file');
  });
  app.on('web-contents-created', (_event, contents) => hardenContents(contents, origins, log));
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  app.on('activate', () => {
    if (windows.size === 0 && service) createWindow();
  });
  let closing = false;
  app.on('will-quit', (event) => {
    if (closing || !service) return;
    closing = true;
    event.preventDefault();
    const s = service;
    void s.close().catch((err: unknown) => log(`[app] closing the service: ${String(err)}`)).finally(() => app.quit());
  });
  app.whenReady().then(start).catch((err: unknown) => {
    dialog.showErrorBox('Convmap could not start', err instanceof Error ? err.message : String(err));
    app.exit(1);
  });
}
