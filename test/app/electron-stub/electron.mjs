// A stand-in for the electron module, enough to run out/main/main.js under plain Node.
import { utilityProcessStandIn } from './utility-process.mjs';
const s = globalThis.__electronStub = { app: new Map(), ipc: new Map(), ipcOn: new Map(), protocols: new Map(), windows: [], menus: [], shown: [], forks: [] };
class Contents { constructor() { this.h = new Map(); this.sent = []; this.mainFrame = { url: 'convmap-app://renderer/index.html', parent: null }; }
  on(n, l) { this.h.set(n, l); return this; } send(c, p) { this.sent.push([c, p]); } }
export class BrowserWindow {
  constructor(o) { this.options = o; this.webContents = new Contents(); this.h = new Map(); s.windows.push(this); }
  once(n, l) { this.h.set(n, l); } on(n, l) { this.h.set(n, l); } loadURL(u) { this.url = u; return Promise.resolve(); }
  isDestroyed() { return false; } isMinimized() { return false; } focus() {} show() {}
  static fromWebContents(wc) { return s.windows.find((w) => w.webContents === wc) ?? null; }
  static getFocusedWindow() { return s.windows[0] ?? null; }
}
export const app = { isPackaged: false, getPath: () => process.env.STUB_USERDATA, getAppPath: () => process.cwd(),
  requestSingleInstanceLock: () => true, on: (n, l) => s.app.set(n, l), whenReady: () => Promise.resolve(), quit: () => { s.quit = true; }, exit: (c) => process.exit(c) };
export const ipcMain = { handle: (c, l) => s.ipc.set(c, l), removeHandler: (c) => s.ipc.delete(c),
  on: (c, l) => s.ipcOn.set(c, l), removeListener: (c) => s.ipcOn.delete(c) };
export const protocol = { registerSchemesAsPrivileged: (x) => { s.schemes = x; }, handle: (n, l) => s.protocols.set(n, l) };
export const session = { defaultSession: { setPermissionRequestHandler() {}, setPermissionCheckHandler() {}, webRequest: { onHeadersReceived() {}, onBeforeRequest() {} } } };
export const Menu = { buildFromTemplate: (t) => t, setApplicationMenu: (m) => s.menus.push(m) };
// The export dialog answers STUB_EXPORT_DIR when set; every other dialog is cancelled.
export const dialog = { showOpenDialog: async (...a) => (a.at(-1)?.title === 'Export Overlays To' && process.env.STUB_EXPORT_DIR ? { canceled: false, filePaths: [process.env.STUB_EXPORT_DIR] } : { canceled: true, filePaths: [] }),
  showErrorBox: (a, b) => console.error('ERRORBOX', a, b) };
export const shell = { showItemInFolder: (p) => s.shown.push(p) };
export const utilityProcess = utilityProcessStandIn(s.forks);
export default { app, BrowserWindow, ipcMain, protocol, session, Menu, dialog, shell, utilityProcess };
