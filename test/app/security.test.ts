import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { devCspPlugin } from '../../electron.vite.config';
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

/**
 * Electron's security checklist (electronjs.org/docs/latest/tutorial/security), the web preferences
 * it requires, and Electron's own default for each (what applies when the app leaves a key unset;
 * undefined: the app must set it explicitly).
 */
const CHECKLIST: { item: string; key: string; required: unknown; electronDefault?: unknown }[] = [
  { item: '#2 no Node.js integration', key: 'nodeIntegration', required: false, electronDefault: false },
  { item: '#2 no Node.js integration in workers', key: 'nodeIntegrationInWorker', required: false, electronDefault: false },
  { item: '#2 no Node.js integration in subframes', key: 'nodeIntegrationInSubFrames', required: false, electronDefault: false },
  { item: '#3 context isolation', key: 'contextIsolation', required: true, electronDefault: true },
  { item: '#4 process sandboxing', key: 'sandbox', required: true },
  { item: '#6 webSecurity not disabled', key: 'webSecurity', required: true, electronDefault: true },
  { item: '#8 no allowRunningInsecureContent', key: 'allowRunningInsecureContent', required: false, electronDefault: false },
  { item: '#9 no experimental features', key: 'experimentalFeatures', required: false, electronDefault: false },
  { item: '#10 no enableBlinkFeatures', key: 'enableBlinkFeatures', required: '', electronDefault: '' },
  { item: '#12 no <webview>', key: 'webviewTag', required: false, electronDefault: false },
];
/** Preferences outside the checklist that the window may set: none of them widens what a page can do. */
const HARMLESS = ['preload', 'spellcheck', 'navigateOnDragDrop'];

describe('window security', () => {
  it("meets every web-preference item of Electron's security checklist, counting Electron's defaults for keys left unset", () => {
    const prefs = secureWebPreferences('/out/preload/preload.cjs') as Record<string, unknown>;
    for (const { item, key, required, electronDefault } of CHECKLIST) {
      const effective = key in prefs ? prefs[key] : electronDefault;
      expect(effective, `${item} (${key})`).toBe(required);
    }
    const known = new Set([...CHECKLIST.map((c) => c.key), ...HARMLESS]);
    expect(Object.keys(prefs).filter((k) => !known.has(k)), 'preferences the checklist does not vouch for').toEqual([]);
    expect(prefs.preload).toBe('/out/preload/preload.cjs');
    // Dropping a file must not navigate the window to it (#13).
    expect(prefs.navigateOnDragDrop ?? false).toBe(false);
  });

  /** The policy's directives, name → sources. */
  const directives = (csp: string): Map<string, string[]> => new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).filter((d) => d[0]).map(([name, ...src]) => [name, src]));

  it('has a CSP (#7) with scripts and styles only from the app, no inline anything in the built app, no remote source', () => {
    const d = directives(contentSecurityPolicy());
    expect(d.get('default-src')).toEqual(["'none'"]);
    expect(d.get('script-src')).toEqual(["'self'"]);
    expect(d.get('style-src')).toEqual(["'self'"]);
    expect(d.get('object-src')).toEqual(["'none'"]);
    expect(d.get('base-uri')).toEqual(["'none'"]);
    expect(d.get('form-action')).toEqual(["'none'"]);
    expect(d.get('img-src')).toContain('convmap-photo:');
    for (const [name, sources] of d) {
      for (const src of sources) expect(src, `${name} ${src}`).not.toMatch(/^(https?:|wss?:|\*|'unsafe-|'strict-dynamic')/);
    }
    // Under the dev server only inline styles (Vite's injected <style> tags) are added.
    const dev = directives(contentSecurityPolicy(true));
    expect(dev.get('style-src')).toEqual(["'self'", "'unsafe-inline'"]);
    expect(new Map([...dev].filter(([k]) => k !== 'style-src'))).toEqual(new Map([...d].filter(([k]) => k !== 'style-src')));
  });

  it("gives the page's <meta> CSP exactly the header's string, in the built app and under the dev server", () => {
    const html = readFileSync(path.resolve(import.meta.dirname, '../../renderer/index.html'), 'utf8');
    const meta = (page: string) => /<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]*)"/.exec(page)?.[1];
    expect(meta(html)).toBe(contentSecurityPolicy());
    const plugin = devCspPlugin();
    expect(plugin.apply).toBe('serve');
    const transform = plugin.transformIndexHtml as (html: string) => string;
    expect(meta(transform(html))).toBe(contentSecurityPolicy(true));
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
