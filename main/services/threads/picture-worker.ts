/** Worker thread entry of picture-thread.ts: renders picture PNGs (renderPicture) on request. */
import { parentPort } from 'node:worker_threads';
import { renderPicture } from '../picture';
import type { RenderReply, RenderRequest } from './picture-thread';

const port = parentPort;
if (!port) throw new Error('picture-worker must run in a worker thread');

port.on('message', (req: RenderRequest) => {
  renderPicture(req.input, req.labels, req.style).then(
    (png: Buffer) => {
      const bytes = new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
      port.postMessage({ id: req.id, png: bytes } satisfies RenderReply);
    },
    (err: unknown) => port.postMessage({
      id: req.id,
      error: err instanceof Error ? { name: err.name, message: err.message } : { name: 'Error', message: String(err) },
    } satisfies RenderReply),
  );
});
