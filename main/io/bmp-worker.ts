/** Worker thread entry of bmp-thread.ts: decodes one BMP (./bmp) off the calling thread. */
import { parentPort, workerData } from 'node:worker_threads';
import { decodeBmp } from './bmp';

const port = parentPort;
if (!port) throw new Error('bmp-worker must run in a worker thread');
const { bytes, name, maxPixels } = workerData as { bytes: Uint8Array; name: string; maxPixels: number };
try {
  const img = decodeBmp(bytes, name, maxPixels);
  port.postMessage({ ok: true, data: img.data, width: img.width, height: img.height }, [img.data.buffer as ArrayBuffer]);
} catch (err) {
  port.postMessage({ ok: false, name: err instanceof Error ? err.name : 'Error', message: err instanceof Error ? err.message : String(err) });
}
