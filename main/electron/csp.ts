/**
 * #7 of Electron's security checklist: the Content-Security-Policy of the app's pages, one string
 * for the header main sends (protocol.ts, security.ts) and the page's own <meta> (renderer/index.html,
 * rewritten for the dev server by electron.vite.config.ts); test/app/security.test.ts checks they
 * are the same. No import but core/: the Vite config loads this file.
 *
 * Scripts and styles only from the app itself: no inline script or style in a built page (Vue's
 * `:style` bindings set CSSOM properties, which CSP does not govern). Vite's dev server injects its
 * styles as <style> tags, so only `dev` allows inline styles. Photos come from the photo scheme; no
 * remote anything. No frame-ancestors: it is ignored in a <meta>, and the app's pages cannot be
 * framed anyway (remote loads are cancelled, frame-src is 'none').
 */
import { PHOTO_SCHEME } from '../../core/api';

export function contentSecurityPolicy(dev = false): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    dev ? "style-src 'self' 'unsafe-inline'" : "style-src 'self'",
    `img-src 'self' ${PHOTO_SCHEME}: data: blob:`,
    // 'self' also covers the dev server's HMR websocket (same host, ws:).
    `connect-src 'self' ${PHOTO_SCHEME}:`,
    "font-src 'self' data:",
    "worker-src 'self' blob:",
    "object-src 'none'",
    "frame-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}
