/**
 * End-to-end bridge: serves the built renderer over http on 127.0.0.1 and implements every
 * ConvmapApi invoke method as POST /api/<method> on the REAL app service (main/services/window/app-service.ts),
 * so a browser page gets the same API the preload gives the Electron window, backed by the real
 * converter and engine. Progress goes out as Server-Sent Events on /events; photos are served on
 * /photo/<id> (the service's convmap-photo: URLs are rewritten to those). index.html gets
 * <script src="./bridge.js"> (bridge-client.ts, transpiled) ahead of the app's module script.
 */
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformWithOxc } from 'vite';
import type { AddFoldersResult, AddPhotosResult, BatchEvent, ModelSummary, PhotoRef, ProgressEvent, ScoresResult } from '../../core/api';
import { makeDigitScene } from '../../main/digits/scene';
import { DEMO_SCENE } from '../../main/digits/demo-scene';
import type { AppService } from '../../main/services/window/app-service';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export interface BridgeOptions {
  /** The built renderer (index.html and assets). */
  staticDir: string;
  service: AppService;
  /** What the dialogs answer: a model path (or null), photo paths, folder paths, the export folder (or null). */
  dialogs?: { model?: string | null; labels?: string | null; photos?: string[]; folders?: string[]; exportDir?: string | null };
}

export interface BridgeServer {
  url: string;
  /** Invoke calls received, by method name. */
  calls: Map<string, number>;
  /** Requests that failed with a server error (not rejections the API defines), for the test to assert on. */
  serverErrors: string[];
  /** The models the page loaded, in order. */
  models: ModelSummary[];
  /** What Show in folder was asked to open, in order (main's shell.showItemInFolder). */
  shown: string[];
  /** Sends paths as an "open-files" event (as the OS would through main). */
  openFiles(paths: string[]): void;
  close(): Promise<void>;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

function photoUrl(p: PhotoRef): PhotoRef {
  return { ...p, url: `/photo/${encodeURIComponent(p.id)}` };
}

function photos<R extends AddPhotosResult | AddFoldersResult>(r: R): R {
  return { ...r, photos: r.photos.map(photoUrl) };
}

function wireScores(r: ScoresResult): unknown {
  return {
    ...r,
    maps: r.maps.map((m) => ({ ...m, scores: Buffer.from(m.scores.buffer, m.scores.byteOffset, m.scores.byteLength).toString('base64') })),
  };
}

async function readBody(req: http.IncomingMessage): Promise<unknown[]> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  const args = text ? (JSON.parse(text) as unknown) : [];
  if (!Array.isArray(args)) throw new Error('the request body must be a JSON array of arguments');
  return args;
}

export async function startBridgeServer(opts: BridgeOptions): Promise<BridgeServer> {
  const { service } = opts;
  const calls = new Map<string, number>();
  const serverErrors: string[] = [];
  const sse = new Set<http.ServerResponse>();
  const shown: string[] = [];
  const models: ModelSummary[] = [];
  /** Files exports wrote: as in main/electron/ipc.ts, only these and the export folder may be shown. */
  const written = new Set<string>();
  const clientTs = await fs.readFile(path.join(HERE, 'bridge-client.ts'), 'utf8');
  // A classic script: drop the `export {}` left behind by the type-only imports.
  const bridgeJs = (await transformWithOxc(clientTs, 'bridge-client.ts', { lang: 'ts' })).code.replace(/^export\s*\{\s*\};?\s*$/m, '');

  const send = (event: string, data: unknown): void => {
    const line = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const res of sse) res.write(line);
  };
  const unsubscribe = service.onProgress((e: ProgressEvent) => send('progress', e));
  const unsubscribeBatch = service.onBatch((e: BatchEvent) => send('batch', e));

  const methods: Record<string, (...args: unknown[]) => Promise<unknown>> = {
    backendInfo: () => service.backendInfo(),
    openModelDialog: async () => opts.dialogs?.model ?? null,
    openLabelsDialog: async () => opts.dialogs?.labels ?? null,
    loadModel: async (req) => {
      const model = await service.loadModel(req as Parameters<AppService['loadModel']>[0]);
      models.push(model);
      return model;
    },
    setPreprocess: (req) => service.setPreprocess(req as Parameters<AppService['setPreprocess']>[0]),
    openPhotosDialog: async () => photos(await service.addPhotos(opts.dialogs?.photos ?? [])),
    addPhotos: async (paths) => photos(await service.addPhotos(paths as string[])),
    demoScene: async () => photoUrl(await service.demoScene()),
    computeScores: async (req) => wireScores(await service.computeScores(req as Parameters<AppService['computeScores']>[0])),
    cancel: async (jobId) => {
      await service.cancel(jobId as string);
      return null;
    },
    recent: () => service.recent(),
    // The folder dialogs are stubbed like the photo dialog; the rest is the real service, as ipc.ts wires it.
    openFoldersDialog: async (recursive) => {
      const paths = opts.dialogs?.folders ?? [];
      return photos(paths.length === 0 ? { photos: [], failed: [], skipped: 0, models: [] } : await service.addFolders({ paths, recursive: recursive as boolean }));
    },
    addFolders: async (req) => photos(await service.addFolders(req as Parameters<AppService['addFolders']>[0])),
    chooseExportFolder: async () => {
      const dir = opts.dialogs?.exportDir ?? null;
      if (dir !== null) service.allowExportDir(dir);
      return dir;
    },
    runBatch: async (req) => {
      const result = await service.runBatch(req as Parameters<AppService['runBatch']>[0]);
      for (const f of result.outputs) written.add(path.resolve(f));
      return result;
    },
    showInFolder: async (p) => {
      if (typeof p !== 'string' || !path.isAbsolute(p) || !(written.has(path.resolve(p)) || service.isExportDir(p))) {
        throw new Error(`convmap:show-in-folder refused: path "${String(p)}" is neither one the user chose nor an export written in this session`);
      }
      shown.push(path.resolve(p));
      return null;
    },
    pauseBatch: async (batchId) => {
      await service.pauseBatch(batchId as string);
      return null;
    },
    resumeBatch: async (batchId) => {
      await service.resumeBatch(batchId as string);
      return null;
    },
  };

  const server = http.createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const p = decodeURIComponent(url.pathname);
      try {
        if (req.method === 'POST' && p.startsWith('/api/')) {
          const name = p.slice('/api/'.length);
          const fn = Object.hasOwn(methods, name) ? methods[name] : undefined;
          if (!fn) {
            res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ name: 'Error', message: `no API method ${name}` }));
            return;
          }
          calls.set(name, (calls.get(name) ?? 0) + 1);
          const args = await readBody(req);
          // A rejection is an answer, not a failed request (the browser would log a 500 as an error).
          let reply: { ok: unknown } | { error: { name: string; message: string } };
          try {
            reply = { ok: (await fn(...args)) ?? null };
          } catch (err) {
            const e = err instanceof Error ? err : new Error(String(err));
            reply = { error: { name: e.name, message: e.message } };
          }
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
          return;
        }
        if (p === '/events') {
          res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
          res.write(': connected\n\n');
          sse.add(res);
          req.on('close', () => sse.delete(res));
          return;
        }
        if (p.startsWith('/photo/')) {
          const photo = await service.photoBytes(p.slice('/photo/'.length));
          if (!photo) {
            res.writeHead(404).end();
            return;
          }
          res.writeHead(200, { 'content-type': photo.mimeType, 'cache-control': 'no-store' }).end(Buffer.from(photo.bytes));
          return;
        }
        if (p === '/test/demo-truth') {
          const scene = makeDigitScene({ ...DEMO_SCENE, sizes: [...DEMO_SCENE.sizes] });
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ width: scene.width, height: scene.height, truth: scene.truth }));
          return;
        }
        if (p === '/bridge.js') {
          res.writeHead(200, { 'content-type': MIME['.js'] }).end(bridgeJs);
          return;
        }
        const rel = p === '/' ? 'index.html' : p.slice(1);
        const file = path.resolve(opts.staticDir, rel);
        if (!file.startsWith(path.resolve(opts.staticDir) + path.sep)) {
          res.writeHead(403).end();
          return;
        }
        let body: Buffer | string = await fs.readFile(file).catch(() => Buffer.alloc(0));
        if (body.length === 0) {
          res.writeHead(404).end();
          return;
        }
        if (rel === 'index.html') {
          body = body.toString('utf8').replace('<head>', '<head>\n    <script src="./bridge.js"></script>');
        }
        res.writeHead(200, { 'content-type': MIME[path.extname(file)] ?? 'application/octet-stream' }).end(body);
      } catch (err) {
        const msg = `${req.method} ${p}: ${err instanceof Error ? err.message : String(err)}`;
        serverErrors.push(msg);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(msg);
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/`,
    calls,
    serverErrors,
    shown,
    models,
    openFiles: (paths) => send('open-files', paths),
    async close() {
      unsubscribe();
      unsubscribeBatch();
      for (const res of sse) res.end();
      sse.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
