/**
 * Browser side of the end-to-end bridge: defines `window.convmap` (core/api.ts ConvmapApi) over
 * fetch to bridge-server.ts, before the app's own script runs. Self-contained (type imports only):
 * the server transpiles this file and serves it as /bridge.js.
 */
import type {
  AddFoldersResult, AddPhotosResult, BackendInfo, BatchEvent, BatchResult, ConvmapApi, ModelSummary, PhotoRef, ProgressEvent, RecentItems, ScoresResult,
} from '../../core/api';
import type { ScoreMap } from '../../core/scoremap';

/** A ScoreMap on the wire: the Float32Array as base64 of its little-endian bytes. */
type WireScoreMap = Omit<ScoreMap, 'scores'> & { scores: string };
type WireScoresResult = Omit<ScoresResult, 'maps'> & { maps: WireScoreMap[] };

(() => {
  async function call<T>(method: string, ...args: unknown[]): Promise<T> {
    const res = await fetch(`/api/${method}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(args) });
    if (!res.ok) throw new Error(`${method}: the bridge answered ${res.status}`);
    const body = (await res.json()) as { ok: T } | { error: { name: string; message: string } };
    if ('error' in body) {
      const err = new Error(body.error.message);
      err.name = body.error.name;
      throw err;
    }
    return body.ok;
  }

  function fromBase64(b64: string): Float32Array {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Float32Array(bytes.buffer);
  }

  function toBase64(bytes: Uint8Array): string {
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(s);
  }

  const progress = new Set<(e: ProgressEvent) => void>();
  const openFiles = new Set<(paths: string[]) => void>();
  const batch = new Set<(e: BatchEvent) => void>();
  const events = new EventSource('/events');
  events.addEventListener('progress', (m) => {
    const e = JSON.parse((m as MessageEvent<string>).data) as ProgressEvent;
    for (const l of progress) l(e);
  });
  events.addEventListener('batch', (m) => {
    const e = JSON.parse((m as MessageEvent<string>).data) as BatchEvent;
    for (const l of batch) l(e);
  });
  events.addEventListener('open-files', (m) => {
    const paths = JSON.parse((m as MessageEvent<string>).data) as string[];
    for (const l of openFiles) l(paths);
  });

  const api: ConvmapApi = {
    backendInfo: () => call<BackendInfo>('backendInfo'),
    openModelDialog: () => call<string | null>('openModelDialog'),
    openLabelsDialog: () => call<string | null>('openLabelsDialog'),
    loadModel: (req) => call<ModelSummary>('loadModel', req),
    setPreprocess: (req) => call<ModelSummary>('setPreprocess', req),
    openPhotosDialog: () => call<AddPhotosResult>('openPhotosDialog'),
    addPhotos: (paths) => call<AddPhotosResult>('addPhotos', paths),
    demoScene: () => call<PhotoRef>('demoScene'),
    async computeScores(req) {
      const wire = await call<WireScoresResult>('computeScores', req);
      return { ...wire, maps: wire.maps.map((m) => ({ ...m, scores: fromBase64(m.scores) })) };
    },
    cancel: (jobId) => call<void>('cancel', jobId),
    recent: () => call<RecentItems>('recent'),
    openFoldersDialog: (recursive) => call<AddFoldersResult>('openFoldersDialog', recursive),
    addFolders: (req) => call<AddFoldersResult>('addFolders', req),
    chooseExportFolder: () => call<string | null>('chooseExportFolder'),
    runBatch: (req) => call<BatchResult>('runBatch', req),
    pauseBatch: (batchId) => call<void>('pauseBatch', batchId),
    resumeBatch: (batchId) => call<void>('resumeBatch', batchId),
    showInFolder: (p) => call<void>('showInFolder', p),
    onBatch(listener) {
      batch.add(listener);
      return () => batch.delete(listener);
    },
    onProgress(listener) {
      progress.add(listener);
      return () => progress.delete(listener);
    },
    onOpenFiles(listener) {
      openFiles.add(listener);
      return () => openFiles.delete(listener);
    },
    // No Electron menu here: nothing is ever sent (the menu's commands are tested in test/renderer/menu.test.ts).
    onMenu: () => () => undefined,
    // A browser gives no paths for dropped files; tests register name → path first.
    pathForFile: (file) => dropPaths.get(file.name) ?? '',
  };
  const dropPaths = new Map<string, string>();
  window.convmap = api;

  /** Test hooks, read by the e2e test through page.evaluate. */
  const hooks = {
    setDropPath(name: string, path: string): void {
      dropPaths.set(name, path);
    },
    /** The overlay canvas's pixels and what they show. */
    readOverlay(): { width: number; height: number; ready: string; cls: string; scales: string; rgba: string } | null {
      const c = document.querySelector<HTMLCanvasElement>('canvas[data-testid="overlay"]');
      const ctx = c?.getContext('2d');
      if (!c || !ctx) return null;
      const data = ctx.getImageData(0, 0, c.width, c.height).data;
      return {
        width: c.width, height: c.height, ready: c.dataset.ready ?? '', cls: c.dataset.class ?? '', scales: c.dataset.scales ?? '',
        rgba: toBase64(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)),
      };
    },
  };
  (window as unknown as { __convmapTest: typeof hooks }).__convmapTest = hooks;
})();
