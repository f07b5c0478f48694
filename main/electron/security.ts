/**
 * The window's security, one rule per function, after Electron's security checklist
 * (https://www.electronjs.org/docs/latest/tutorial/security; item numbers in the comments).
 * Pure of app state: each takes the Electron object it hardens, so tests pass fakes.
 */
import type { Session, WebContents, WebPreferences } from 'electron';
import { isAppUrl, type AppOrigins } from './validate';

export { contentSecurityPolicy } from './csp';

/** #2 no Node in the renderer, #3 context isolation, #4 sandbox, #5 web security, #8/#9 no insecure content or experimental features, #12 no webviews. */
export function secureWebPreferences(preload: string): WebPreferences {
  return {
    preload,
    contextIsolation: true,
    sandbox: true,
    nodeIntegration: false,
    nodeIntegrationInWorker: false,
    nodeIntegrationInSubFrames: false,
    webSecurity: true,
    allowRunningInsecureContent: false,
    experimentalFeatures: false,
    webviewTag: false,
    navigateOnDragDrop: false,
    spellcheck: false,
  };
}

/**
 * #5 handle permission requests: every one is denied (the app needs no camera, location,
 * notifications…). #7 the CSP header on the dev server's responses (the app scheme sets its own).
 * #1 no remote content: any http(s)/ws request that is not the dev server is cancelled.
 */
export function hardenSession(session: Session, origins: AppOrigins, csp: string, log: (line: string) => void = console.warn): void {
  session.setPermissionRequestHandler((_wc, permission, callback) => {
    log(`[security] denied permission request: ${permission}`);
    callback(false);
  });
  session.setPermissionCheckHandler(() => false);
  session.webRequest.onHeadersReceived((details, callback) => {
    if (origins.devServerUrl && isAppUrl(details.url, { appOrigin: origins.appOrigin, devServerUrl: origins.devServerUrl })) {
      callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [csp] } });
    } else {
      callback({});
    }
  });
  session.webRequest.onBeforeRequest({ urls: ['http://*/*', 'https://*/*', 'ws://*/*', 'wss://*/*'] }, (details, callback) => {
    const devOk = origins.devServerUrl !== undefined && sameHost(details.url, origins.devServerUrl);
    if (!devOk) log(`[security] blocked remote request: ${details.url.slice(0, 200)}`);
    callback({ cancel: !devOk });
  });
}

function sameHost(url: string, devServerUrl: string): boolean {
  try {
    return new URL(url).host === new URL(devServerUrl).host;
  } catch {
    return false;
  }
}

/**
 * #13 navigation is limited to the app's own pages (a reload stays allowed), #14 new windows are
 * denied, #12 webviews cannot be attached. Applied to every web contents the app creates.
 */
export function hardenContents(contents: WebContents, origins: AppOrigins, log: (line: string) => void = console.warn): void {
  const guard = (event: { preventDefault(): void }, url: string): void => {
    if (!isAppUrl(url, origins)) {
      event.preventDefault();
      log(`[security] blocked navigation to ${url.slice(0, 200)}`);
    }
  };
  contents.on('will-navigate', (event, url) => guard(event, url));
  contents.on('will-redirect', (event, url) => guard(event, url));
  contents.on('will-attach-webview', (event) => {
    event.preventDefault();
    log('[security] blocked a webview');
  });
  contents.setWindowOpenHandler(({ url }) => {
    log(`[security] denied a new window for ${url.slice(0, 200)}`);
    return { action: 'deny' };
  });
}
