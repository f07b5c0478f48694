/**
 * BMP decoding off the calling thread: Convmap's BMP decoder is JavaScript, so a big BMP decoded on
 * the Electron main process would stall it (sharp decodes every other format in its own threads).
 * One short-lived worker per big BMP; small ones are decoded in place.
 */
import { withoutName } from '../../core/errors';
import { decodeBmp } from './bmp';
import { ImageError } from './image-error';
import { startWorker } from './start-worker';

/** BMPs above this many pixels are decoded in a worker thread (about 30 ms of work in place below it). */
export const BMP_WORKER_PIXELS = 4_000_000;

/**
 * decodeBmp, in a worker thread when the BMP is big.
 * @returns [height, width, 3] RGB, top row first. @throws ImageError naming `name`, as decodeBmp does.
 */
export async function decodeBmpOffThread(bytes: Uint8Array, name: string, maxPixels: number, pixels: number): Promise<{ data: Uint8Array; width: number; height: number }> {
  if (pixels <= BMP_WORKER_PIXELS) return decodeBmp(bytes, name, maxPixels);
  type Reply = { ok: true; data: Uint8Array; width: number; height: number } | { ok: false; name: string; message: string };
  const worker = startWorker(import.meta.url, 'bmp-worker', { workerData: { bytes, name, maxPixels } });
  try {
    const reply = await new Promise<Reply>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the BMP decoder stopped (exit code ${code})`)));
    });
    if (reply.ok) return { data: reply.data, width: reply.width, height: reply.height };
    // decodeBmp's messages already start with the name.
    throw new ImageError(name, withoutName(reply.message, name));
  } finally {
    void worker.terminate();
  }
}
