/**
 * Picture rendering off the calling thread: renderPicture (per-pixel colormap and blending over a
 * full-resolution photo in JS, then sharp's compositing and PNG encoding) runs in a small pool of
 * worker threads (./picture-worker), so the Electron main process's event loop never stalls on it
 * while a batch exports. A worker that dies fails the photo it was rendering (with the reason) and
 * is replaced for the next one.
 */
import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../../io/start-worker';
import type { PictureInput, PictureStyle } from '../picture';

export interface RenderRequest {
  id: number;
  input: PictureInput;
  labels: readonly string[];
  style: PictureStyle;
}

export type RenderReply = { id: number; png: Uint8Array } | { id: number; error: { name: string; message: string } };

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (png: Buffer) => void; reject: (err: Error) => void }>;
}

export interface PictureRenderer {
  /** renderPicture in a worker thread. The photo's pixels are moved to the worker when possible (input.image.data is then empty). */
  render(input: PictureInput, labels: readonly string[], style: PictureStyle): Promise<Buffer>;
  close(): Promise<void>;
}

/** A pool of `size` render workers (default min(2, cores)), started on first use. */
export function createPictureRenderer(size = Math.max(1, Math.min(2, os.availableParallelism()))): PictureRenderer {
  const slots: (Slot | undefined)[] = new Array(size).fill(undefined);
  let nextId = 0;
  let closed = false;

  const spawn = (i: number): Slot => {
    const slot: Slot = { worker: startWorker(import.meta.url, 'picture-worker'), pending: new Map() };
    slot.worker.unref();
    slot.worker.on('message', (reply: RenderReply) => {
      const p = slot.pending.get(reply.id);
      if (!p) return;
      slot.pending.delete(reply.id);
      if ('png' in reply) p.resolve(Buffer.from(reply.png.buffer, reply.png.byteOffset, reply.png.byteLength));
      else p.reject(Object.assign(new Error(reply.error.message), { name: reply.error.name }));
    });
    const fail = (why: string): void => {
      if (slots[i] === slot) slots[i] = undefined;
      for (const p of slot.pending.values()) p.reject(new Error(why));
      slot.pending.clear();
    };
    slot.worker.on('error', (err) => fail(`the picture worker failed: ${err.message}`));
    slot.worker.on('exit', (code) => fail(`the picture worker stopped (exit code ${code}) while rendering`));
    slots[i] = slot;
    return slot;
  };

  return {
    render(input, labels, style) {
      if (closed) return Promise.reject(new Error('the picture renderer is closed'));
      // The least busy worker (a dead one is replaced).
      let best = 0;
      for (let i = 1; i < size; i++) if ((slots[i]?.pending.size ?? 0) < (slots[best]?.pending.size ?? 0)) best = i;
      const slot = slots[best] ?? spawn(best);
      const id = ++nextId;
      const req: RenderRequest = { id, input, labels, style };
      return new Promise<Buffer>((resolve, reject) => {
        slot.pending.set(id, { resolve, reject });
        const data = input.image.data;
        const movable = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer;
        try {
          slot.worker.postMessage(req, movable ? [data.buffer as ArrayBuffer] : []);
        } catch {
          // Not transferable (e.g. memory owned by sharp): copied instead.
          try {
            slot.worker.postMessage(req);
          } catch (err) {
            slot.pending.delete(id);
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        }
      });
    },
    async close() {
      closed = true;
      await Promise.all(slots.map((s) => s?.worker.terminate()));
    },
  };
}
