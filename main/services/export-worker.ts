/** Worker thread entry of export-thread.ts: renders overlay PNGs (renderExportPng) on request. */
import { parentPort } from 'node:worker_threads';
import { renderExportPng } from './export';
import type { RenderReply, RenderRequest } from './export-thread';

const port = parentPort;
if (!port) throw new Error('export-worker must run in a worker thread');

port.on('message', (req: RenderRequest) => {
  renderExportPng(req.result, { labels: req.labels as string[] }, req.style, req.detections).then(
    (png) => {
      const bytes = new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
      port.postMessage({ id: req.id, png: bytes } satisfies RenderReply);
    },
    (err: unknown) => port.postMessage({
      id: req.id,
      error: err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) },
    } satisfies RenderReply),
  );
});
