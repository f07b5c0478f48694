import { describe, expect, it, vi } from 'vitest';
import { contentSecurityPolicy, hardenContents, hardenSession, secureWebPreferences } from '../../main/electron/security';

const origins = Object.freeze({ appOrigin: 'convmap-app://renderer' });

function fakeContents() {
  const on = new Map<string, (...a: unknown[]) => void>();
  let openHandler: ((d: { url: string }) => { action: string }) | undefined;
  return {
    on: vi.fn((name: string, l: (...a: unknown[]) => void) => void on.set(name, l)),
    setWindowOpenHandler: vi.fn((h: (d: { url: string }) => { action: string }) => void (openHandler = h)),
    emit(name: string, ...a: unknown[]) {
      on.get(name)?.(...a);
    },
    open: (url: string) => openHandler?.({ url }),
  };
}

describe('window security', () => {
  it('turns on context isolation, the sandbox and web security, and Node integration off', () => {
    expect(secureWebPreferences('/out/preload/preload.cjs')).toMatchObject({
      preload: '/out/preload/preload.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
    });
  });

  it('has a CSP without inline or remote scripts, photos only from the photo scheme', () => {
    const csp = contentSecurityPolicy();
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self';");
    expect(csp).not.toMatch(/script-src[^;]*(unsafe|http|\*)/);
    expect(csp).toContain("img-src 'self' convmap-photo: data: blob:");
    expect(csp).toContain("object-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(contentSecurityPolicy('http://localhost:5173/')).toContain("connect-src 'self' convmap-photo: ws://localhost:5173");
  });

  it('blocks navigation away from the app, webviews and every new window', () => {
    const log = vi.fn();
    const contents = fakeContents();
    hardenContents(contents as never, origins, log);
    const away = { preventDefault: vi.fn() };
    contents.emit('will-navigate', away, 'https://evil.example/');
    expect(away.preventDefault).toHaveBeenCalled();
    const file = { preventDefault: vi.fn() };
    contents.emit('will-navigate', file, 'file:///etc/passwd');
    expect(file.preventDefault).toHaveBeenCalled();
    const redirect = { preventDefault: vi.fn() };
    contents.emit('will-redirect', redirect, 'https://evil.example/');
    expect(redirect.preventDefault).toHaveBeenCalled();
    const reload = { preventDefault: vi.fn() };
    contents.emit('will-navigate', reload, 'convmap-app://renderer/index.html');
    expect(reload.preventDefault).not.toHaveBeenCalled();
    const webview = { preventDefault: vi.fn() };
    contents.emit('will-attach-webview', webview);
    expect(webview.preventDefault).toHaveBeenCalled();
    expect(contents.open('https://evil.example/')).toEqual({ action: 'deny' });
    expect(contents.open('convmap-app://renderer/index.html')).toEqual({ action: 'deny' });
    expect(log).toHaveBeenCalled();
  });

  it('denies every permission request and check, cancels remote requests, and puts the CSP on dev-server pages', () => {
    let request: ((wc: unknown, permission: string, cb: (ok: boolean) => void) => void) | undefined;
    let check: (() => boolean) | undefined;
    let headers: ((d: { url: string; responseHeaders?: Record<string, string[]> }, cb: (r: unknown) => void) => void) | undefined;
    let before: ((d: { url: string }, cb: (r: { cancel: boolean }) => void) => void) | undefined;
    const session = {
      setPermissionRequestHandler: (h: typeof request) => void (request = h),
      setPermissionCheckHandler: (h: typeof check) => void (check = h),
      webRequest: {
        onHeadersReceived: (h: typeof headers) => void (headers = h),
        onBeforeRequest: (_f: unknown, h: typeof before) => void (before = h),
      },
    };
    const dev = { ...origins, devServerUrl: 'http://localhost:5173/' };
    hardenSession(session as never, dev, 'CSP', vi.fn());
    const cb = vi.fn();
    request?.({}, 'media', cb);
    expect(cb).toHaveBeenCalledWith(false);
    expect(check?.()).toBe(false);
    const cancel = vi.fn();
    before?.({ url: 'https://evil.example/x.js' }, cancel);
    expect(cancel).toHaveBeenCalledWith({ cancel: true });
    before?.({ url: 'http://localhost:5173/src/main.ts' }, cancel);
    expect(cancel).toHaveBeenLastCalledWith({ cancel: false });
    const h = vi.fn();
    headers?.({ url: 'http://localhost:5173/', responseHeaders: { 'X-A': ['1'] } }, h);
    expect(h).toHaveBeenCalledWith({ responseHeaders: { 'X-A': ['1'], 'Content-Security-Policy': ['CSP'] } });
    headers?.({ url: 'https://evil.example/' }, h);
    expect(h).toHaveBeenLastCalledWith({});
  });
});
