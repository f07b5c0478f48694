// The stand-in for the electron module in the tests that run the real main process
// (main/electron/main.ts) in this process. It records what main registers and sends.
// Use it hoisting-safe, so that the fake exists before the mocked module is first imported:
//   const electron = await vi.hoisted(async () => (await import('./electron-fake')).createElectronFake());
//   vi.mock('electron', async () => (await import('./electron-fake')).electronModule(electron));
import { vi } from 'vitest';
// @ts-expect-error: a plain .mjs stand-in, without types
import { utilityProcessStandIn } from './electron-stub/utility-process.mjs';

type Listener = (...a: unknown[]) => unknown;

/** A fresh fake: empty registries, no windows, the open dialog answering `dialogAnswer`. */
export function createElectronFake() {
  const windows: FakeWindow[] = [];
  /** A window's webContents: its event handlers and every [channel, payload] sent to the page. */
  class FakeContents {
    readonly handlers = new Map<string, Listener>();
    readonly sent: [string, unknown][] = [];
    on(name: string, l: Listener) {
      this.handlers.set(name, l);
      return this;
    }
    send(channel: string, payload: unknown) {
      this.sent.push([channel, payload]);
    }
  }
  class FakeWindow {
    readonly webContents = new FakeContents();
    readonly handlers = new Map<string, Listener>();
    loaded = '';
    constructor(readonly options: Record<string, unknown>) {
      windows.push(this);
    }
    once(name: string, l: Listener) {
      this.handlers.set(name, l);
    }
    on(name: string, l: Listener) {
      this.handlers.set(name, l);
    }
    loadURL(url: string) {
      this.loaded = url;
      return Promise.resolve();
    }
    isDestroyed() {
      return false;
    }
    isMinimized() {
      return false;
    }
    restore() {}
    focus = vi.fn();
    show = vi.fn();
    static fromWebContents(wc: unknown) {
      return windows.find((w) => w.webContents === wc) ?? null;
    }
    static getFocusedWindow() {
      return windows[0] ?? null;
    }
  }
  const fake = {
    windows, FakeWindow,
    /** What app.getPath answers (for 'userData'); set before main is imported. */
    userData: '',
    appHandlers: new Map<string, Listener>(),
    ipcHandlers: new Map<string, Listener>(),
    ipcListeners: new Map<string, Listener>(),
    menus: [] as unknown[],
    schemes: [] as unknown[],
    protocolHandlers: new Map<string, (req: Request) => Promise<Response>>(),
    session: {
      setPermissionRequestHandler: vi.fn(),
      setPermissionCheckHandler: vi.fn(),
      webRequest: { onHeadersReceived: vi.fn(), onBeforeRequest: vi.fn() },
    },
    quit: vi.fn(),
    /** The paths every open dialog returns (not cancelled). */
    dialogAnswer: [] as string[],
    showOpenDialog: vi.fn(async (): Promise<{ canceled: boolean; filePaths: string[] }> => ({ canceled: false, filePaths: fake.dialogAnswer })),
    /** Every utilityProcess.fork: the module and its options. */
    forks: [] as { modulePath: string; options: Record<string, unknown> }[],
  };
  return fake;
}

export type ElectronFake = ReturnType<typeof createElectronFake>;

/** The module object for `vi.mock('electron', …)`, backed by `fake`. */
export function electronModule(fake: ElectronFake) {
  return {
    app: {
      isPackaged: false,
      getPath: () => fake.userData,
      getAppPath: () => process.cwd(),
      requestSingleInstanceLock: () => true,
      on: (name: string, l: Listener) => void fake.appHandlers.set(name, l),
      whenReady: () => Promise.resolve(),
      quit: fake.quit,
      exit: vi.fn(),
    },
    BrowserWindow: fake.FakeWindow,
    dialog: { showOpenDialog: fake.showOpenDialog, showErrorBox: vi.fn() },
    shell: { showItemInFolder: vi.fn() },
    ipcMain: {
      handle: (channel: string, l: Listener) => void fake.ipcHandlers.set(channel, l),
      removeHandler: (channel: string) => void fake.ipcHandlers.delete(channel),
      on: (channel: string, l: Listener) => void fake.ipcListeners.set(channel, l),
      removeListener: (channel: string) => void fake.ipcListeners.delete(channel),
    },
    Menu: {
      buildFromTemplate: (t: unknown) => t,
      setApplicationMenu: (m: unknown) => void fake.menus.push(m),
    },
    session: { defaultSession: fake.session },
    utilityProcess: utilityProcessStandIn(fake.forks) as { fork(modulePath: string, args?: string[], options?: Record<string, unknown>): unknown },
    protocol: {
      registerSchemesAsPrivileged: (s: unknown[]) => void fake.schemes.push(...s),
      handle: (scheme: string, l: (req: Request) => Promise<Response>) => void fake.protocolHandlers.set(scheme, l),
    },
  };
}
