/**
 * The photo decoding process (see ./decode-host): decodes one photo at a time with decodePhoto and
 * hands the pixels back. libvips cannot be interrupted, so a decode that must stop (Ctrl-C, SIGTERM,
 * the window's Cancel) ends with this process, killed by its parent. It runs under
 * child_process.fork, where the bytes travel both ways on the socket at fd 4 (the IPC channel
 * carries only the small headers), or under Electron's utilityProcess, where they travel in the
 * messages; and it ends when its parent goes away.
 */
import net from 'node:net';
import sharp from './sharp';
import { collectGarbage } from './collect-garbage';
import { decodePhoto } from './decode';
import { DECODE_DATA_FD, type DecodeReply, type DecodeRequest } from './decode-protocol';
import { dieWithParent } from './parent-watch';

/** Electron's process.parentPort in a utility process. */
interface ParentPort {
  postMessage(msg: unknown): void;
  on(event: 'message', fn: (e: { data: unknown }) => void): void;
}

/** The parent's link: messages, and for fork a byte stream beside them. */
interface Link {
  /** Sends a reply; `sent` runs once the pixels have left (their buffer may go). */
  post(msg: DecodeReply, data?: Uint8Array, sent?: () => void): void;
  subscribe(fn: (req: DecodeRequest, data: Uint8Array) => void): void;
}

function electronLink(port: ParentPort): Link {
  return {
    post: (msg, data, sent) => {
      port.postMessage(data === undefined ? msg : { ...msg, data });
      sent?.();
    },
    subscribe: (fn) => port.on('message', (e) => {
      const req = e.data as DecodeRequest & { data: Uint8Array };
      fn(req, req.data);
    }),
  };
}

function forkLink(): Link {
  const send = process.send?.bind(process);
  if (send === undefined) throw new Error('main/io/decode-process must run as a child process (child_process.fork or Electron\'s utilityProcess)');
  // Orphaned: nothing will be asked again. SIGKILL, not exit: an exit waits for a running libvips decode.
  process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));
  const socket = new net.Socket({ fd: DECODE_DATA_FD, readable: true, writable: true });
  // Requests come one at a time: a header on the channel, then exactly `length` bytes on the socket.
  const waiting: { req: DecodeRequest; buf: Uint8Array; at: number }[] = [];
  const pending: Buffer[] = [];
  let handler: ((req: DecodeRequest, data: Uint8Array) => void) | undefined;
  const pump = (): void => {
    while (waiting.length > 0) {
      const w = waiting[0];
      while (w.at < w.buf.length && pending.length > 0) {
        const chunk = pending[0];
        const n = Math.min(chunk.length, w.buf.length - w.at);
        w.buf.set(chunk.subarray(0, n), w.at);
        w.at += n;
        if (n === chunk.length) pending.shift();
        else pending[0] = chunk.subarray(n);
      }
      if (w.at < w.buf.length) return;
      waiting.shift();
      handler?.(w.req, w.buf);
    }
  };
  socket.on('data', (chunk: Buffer) => {
    pending.push(chunk);
    pump();
  });
  socket.on('error', () => process.kill(process.pid, 'SIGKILL'));
  return {
    post: (msg, data, sent) => {
      send(msg, undefined, undefined, () => undefined);
      if (data !== undefined && data.length > 0) socket.write(data, () => sent?.());
      else sent?.();
    },
    subscribe: (fn) => {
      handler = fn;
      process.on('message', (m) => {
        const req = m as DecodeRequest;
        waiting.push({ req, buf: new Uint8Array(req.length), at: 0 });
        pump();
      });
    },
  };
}

// Each photo is decoded once here (the parent keeps decoded photos): libvips' operation cache would only hold memory.
sharp.cache(false);

const port = (process as { parentPort?: ParentPort }).parentPort;
const link = port !== undefined ? electronLink(port) : forkLink();
dieWithParent();

/**
 * Test hook: the photo of this file name blocks this process's thread for ten minutes before it is
 * decoded, as a decode stuck inside libvips would (only SIGKILL ends it); a line on stderr says so.
 */
const stallName = process.env.CONVMAP_TEST_DECODE_STALL_NAME;

/**
 * Bytes of pixels handed on since the last full collection. A collection costs this small process
 * about 13 ms of CPU, as much as decoding a 1 MP JPEG: it is forced once this many bytes have gone
 * (at once after any photo of that size), and V8 collects smaller photos' buffers on its own.
 */
const COLLECT_AFTER_BYTES = 64 << 20;
let sinceCollect = 0;

let queue: Promise<void> = Promise.resolve();
link.subscribe((req, data) => {
  queue = queue.then(async () => {
    if (stallName !== undefined && req.name === stallName) {
      process.stderr.write(`decoding process ${process.pid}: stalled on ${req.name} (test hook)\n`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 600_000);
    }
    try {
      const img = await decodePhoto(data, { name: req.name, maxPixels: req.maxPixels, background: req.background, maxSeconds: req.maxSeconds });
      // Between photos this process holds nothing: the pixels (hundreds of MB for a big photo) go once sent.
      await new Promise<void>((resolve) => link.post({ id: req.id, ok: true, width: img.width, height: img.height, length: img.data.length }, img.data, resolve));
      sinceCollect += img.data.length;
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      const file = (e as { file?: unknown }).file;
      link.post({ id: req.id, ok: false, error: { name: e.name, message: e.message, file: typeof file === 'string' ? file : undefined } });
      // What a failed decode held is not known here: collect.
      sinceCollect = COLLECT_AFTER_BYTES;
    }
    if (sinceCollect >= COLLECT_AFTER_BYTES) {
      sinceCollect = 0;
      collectGarbage();
    }
  });
});
