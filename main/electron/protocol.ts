/**
 * The app's two schemes. Pages never load file:// and never name a path:
 * - convmap-app://renderer/… serves the built renderer (out/renderer) with the Content-Security-Policy
 *   header, so the app has a real origin for sender checks and the CSP lives in main.
 * - convmap-photo://photo/<id> serves a photo the user opened through the service, by the id the
 *   service issued, upright (EXIF orientation applied), and only while the file is the one opened
 *   (photo-identity.ts: device, inode, size, mtime), checked on the path and on the descriptor the
 *   served bytes were read through; anything else is a 404.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { protocol } from 'electron';
import { PHOTO_SCHEME } from '../../core/api';
import type { AppService } from '../services/window/app-service';
import type { PhotoIdentities } from './photo-identity';

export const APP_SCHEME = 'convmap-app';
export const APP_HOST = 'renderer';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const PHOTO_HOST = 'photo';

/** Privileges of both schemes; must be registered before the app is ready. */
export const SCHEME_PRIVILEGES: Electron.CustomScheme[] = [
  { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, codeCache: true } },
  { scheme: PHOTO_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, stream: true, corsEnabled: true } },
];

export function registerSchemePrivileges(): void {
  protocol.registerSchemesAsPrivileged(SCHEME_PRIVILEGES);
}

interface RequestLike {
  url: string;
  method: string;
}

function notFound(): Response {
  return new Response('not found', { status: 404, headers: { 'content-type': 'text/plain' } });
}

/** The URL of a GET or HEAD request for `scheme://host/…`; otherwise the refusal to answer with. */
function requestUrl(req: RequestLike, scheme: string, host: string): URL | Response {
  if (req.method !== 'GET' && req.method !== 'HEAD') return new Response('method not allowed', { status: 405 });
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    return notFound();
  }
  return url.protocol === `${scheme}:` && url.host === host ? url : notFound();
}

export type PhotoSource = Pick<AppService, 'photoBytes' | 'photoFile'>;

/**
 * The response for a convmap-photo: request: the opened photo's upright bytes, else 404; also 404,
 * with the reason logged, when the file is no longer the one that was opened.
 */
export async function photoResponse(service: PhotoSource, identities: PhotoIdentities, req: RequestLike, log: (line: string) => void = console.warn): Promise<Response> {
  const url = requestUrl(req, PHOTO_SCHEME, PHOTO_HOST);
  if (url instanceof Response) return url;
  const m = /^\/([0-9a-f-]{36})$/.exec(url.pathname);
  if (!m || url.search !== '') return notFound();
  const file = service.photoFile(m[1]);
  if (file === undefined) return notFound();
  const refusal = await identities.refusal(m[1], file);
  if (refusal !== undefined) {
    log(`[photo] refused ${path.basename(file)}: ${refusal}`);
    return notFound();
  }
  const photo = await service.photoBytes(m[1]).catch(() => undefined);
  if (!photo) return notFound();
  // The path was checked above; the bytes may have been read from it since (once they left the kept
  // set): the descriptor they were read through must be the opened file too.
  const readRefusal = identities.refusalOfRead(m[1], photo.identity);
  if (readRefusal !== undefined) {
    log(`[photo] refused ${path.basename(file)}: ${readRefusal}`);
    return notFound();
  }
  return new Response(req.method === 'HEAD' ? null : new Uint8Array(photo.bytes), {
    status: 200,
    headers: {
      'content-type': photo.mimeType,
      'content-length': String(photo.bytes.byteLength),
      'cache-control': 'private, max-age=3600',
      // The renderer may draw the photo into a canvas and read it back.
      'access-control-allow-origin': '*',
      'x-content-type-options': 'nosniff',
    },
  });
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.wasm': 'application/wasm',
};

/**
 * The response for a convmap-app: request: a file of the built renderer under `rootDir` (index.html
 * for "/"), with the CSP header; 404 for anything outside it.
 */
export async function appResponse(rootDir: string, req: RequestLike, csp: string): Promise<Response> {
  const url = requestUrl(req, APP_SCHEME, APP_HOST);
  if (url instanceof Response) return url;
  let rel: string;
  try {
    rel = decodeURIComponent(url.pathname);
  } catch {
    return notFound();
  }
  if (rel.includes('\u0000')) return notFound();
  const root = path.resolve(rootDir);
  const file = path.resolve(root, `.${rel === '/' ? '/index.html' : rel}`);
  if (file !== root && !file.startsWith(root + path.sep)) return notFound();
  let body: Buffer;
  try {
    body = await fs.readFile(file);
  } catch {
    return notFound();
  }
  const headers: Record<string, string> = {
    'content-type': CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
    'x-content-type-options': 'nosniff',
    // On every response, not only the page: workers take their policy from their own script's response.
    'content-security-policy': csp,
  };
  return new Response(req.method === 'HEAD' ? null : new Uint8Array(body), { status: 200, headers });
}

/** Serves both schemes on the default session (call when the app is ready). */
export function handleSchemes(service: PhotoSource, identities: PhotoIdentities, rendererDir: string, csp: string, log?: (line: string) => void): void {
  protocol.handle(PHOTO_SCHEME, (req) => photoResponse(service, identities, req, log));
  protocol.handle(APP_SCHEME, (req) => appResponse(rendererDir, req, csp));
}
