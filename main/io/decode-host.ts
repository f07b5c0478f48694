/**
 * Photo decoding in child processes that can be killed. libvips cannot be interrupted, and a Node
 * process waits for the decodes its thread pool runs before it exits, so an in-process decode made
 * Ctrl-C, SIGTERM and the window's Cancel wait for it (a decode may run up to its time budget). Each
 * decode here runs in a small pool of decoding processes (./decode-process); cancelling it SIGKILLs
 * the process that runs it, and the next decode starts another. The pixels come back in one
 * transfer: over a socket into the final buffer (child_process.fork), or in the reply message
 * (Electron's utilityProcess, which Electron's main passes through {@link setDecodeSpawner}).
 * Processes die with their parent, and idle ones are ended after {@link IDLE_MS}.
 */
import { fork } from 'node:child_process';
import os from 'node:os';
import type { Socket } from 'node:net';
import { abortError } from './abort';
import type { DecodeOptions, RgbImage } from './decode';
import { DECODE_DATA_FD, type DecodeReply, type DecodeRequest } from './decode-protocol';
import { ImageError } from './image-error';
import { processEntry } from './start-worker';

/** What the pool hears from one decoding process. */
export interface DecodeChildEvents {
  /** A request's reply; `data` holds the pixels of a successful one. */
  reply(msg: DecodeReply, data: Uint8Array | undefined): void;
  /** The process ended (killed, crashed, or failed to start); called once. */
  exit(code: number | null, signal?: NodeJS.Signals | null): void;
}

/** One decoding process. One request at a time. */
export interface DecodeChild {
  send(req: DecodeRequest, bytes: Uint8Array): void;
  /** Ends the process at once (SIGKILL), even inside a decode. */
  kill(): void;
  /** Whether the process keeps its parent alive: only while it decodes. */
  hold(busy: boolean): void;
}

/** Starts a decoding process from its entry module with the given Node flags. */
export type SpawnDecodeChild = (file: URL, execArgv: string[], events: DecodeChildEvents) => DecodeChild;

/** A Node child process (the CLI, tests, the bench): headers on the IPC channel, bytes on a socket. */
export const forkDecodeChild: SpawnDecodeChild = (file, execArgv, events) => {
  const stdio: ('ignore' | 'inherit' | 'ipc' | 'pipe')[] = ['ignore', 'inherit', 'inherit', 'ipc'];
  while (stdio.length < DECODE_DATA_FD) stdio.push('ignore');
  stdio.push('pipe');
  const child = fork(file, [], { execArgv, stdio });
  const socket = child.stdio[DECODE_DATA_FD] as Socket;
  let ended = false;
  let expect: { msg: DecodeReply; buf: Uint8Array; at: number } | undefined;
  const chunks: Buffer[] = [];
  const pump = (): void => {
    if (expect === undefined) return;
    const e = expect;
    while (e.at < e.buf.length && chunks.length > 0) {
      const chunk = chunks[0];
      const n = Math.min(chunk.length, e.buf.length - e.at);
      e.buf.set(n === chunk.length ? chunk : chunk.subarray(0, n), e.at);
      e.at += n;
      if (n === chunk.length) chunks.shift();
      else chunks[0] = chunk.subarray(n);
    }
    if (e.at < e.buf.length) return;
    expect = undefined;
    events.reply(e.msg, e.buf);
  };
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    pump();
  });
  // A killed process's socket errors or closes; its exit reports it.
  socket.on('error', () => undefined);
  child.on('message', (m) => {
    const msg = m as DecodeReply;
    if (msg.ok && msg.length > 0) {
      expect = { msg, buf: new Uint8Array(msg.length), at: 0 };
      pump();
    } else {
      events.reply(msg, msg.ok ? new Uint8Array(0) : undefined);
    }
  });
  child.on('exit', (code, signal) => {
    if (ended) return;
    ended = true;
    events.exit(code, signal);
  });
  child.on('error', () => {
    if (child.pid === undefined && !ended) {
      ended = true;
      events.exit(null);
    }
  });
  return {
    send: (req, bytes) => {
      if (!child.connected) return;
      child.send(req, () => undefined);
      socket.write(bytes);
    },
    kill: () => {
      child.kill('SIGKILL');
    },
    hold: (busy) => {
      const handles = [child, child.channel, socket] as ({ ref(): void; unref(): void } | null | undefined)[];
      for (const h of handles) {
        if (busy) h?.ref();
        else h?.unref();
      }
    },
  };
};

let spawner: SpawnDecodeChild = forkDecodeChild;

/** How Electron's main starts decoding processes (utilityProcess): call before the first decode. */
export function setDecodeSpawner(spawn: SpawnDecodeChild): void {
  spawner = spawn;
}

/** An idle decoding process is ended after this many milliseconds (its memory given back). */
export const IDLE_MS = 20_000;

interface Job {
  req: DecodeRequest;
  bytes: Uint8Array;
  resolve(img: RgbImage): void;
  reject(err: Error): void;
  signal?: AbortSignal;
  onAbort?(): void;
}

interface Slot {
  child: DecodeChild;
  job?: Job;
  idle?: NodeJS.Timeout;
}

function stopped(code: number | null, signal?: NodeJS.Signals | null): string {
  if (signal === 'SIGKILL') return 'the decoding process was killed (SIGKILL: the system may have run out of memory)';
  if (signal) return `the decoding process ended on ${signal}`;
  return code === null ? 'the decoding process could not be started' : `the decoding process stopped (exit code ${code})`;
}

/**
 * A pool of at most `size` decoding processes, started on demand.
 * @param size most decodes at once (default min(2, cores)).
 */
export class DecodeProcesses {
  private readonly slots: Slot[] = [];
  private readonly waiting: Job[] = [];
  private nextId = 0;

  constructor(private readonly size = Math.max(1, Math.min(2, os.availableParallelism()))) {}

  /**
   * decodePhoto (./decode) of encoded bytes, in a decoding process.
   * @returns the photo upright as [height, width, 3] RGB.
   * @throws ImageError naming the photo (as decodePhoto does, or when the process died under it);
   *   an AbortError as soon as `opts.signal` fires, the process that ran it killed.
   */
  decode(bytes: Uint8Array, opts: DecodeOptions & { maxPixels: number }): Promise<RgbImage> {
    const signal = opts.signal;
    if (signal?.aborted) return Promise.reject(abortError(signal));
    const name = opts.name ?? '<buffer>';
    return new Promise<RgbImage>((resolve, reject) => {
      const job: Job = {
        req: { id: ++this.nextId, name, maxPixels: opts.maxPixels, background: opts.background, maxSeconds: opts.maxSeconds, length: bytes.length },
        bytes, resolve, reject, signal,
      };
      if (signal) {
        job.onAbort = () => this.cancel(job);
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.waiting.push(job);
      this.dispatch();
    });
  }

  /** Starts a process ahead of the first decode (it takes a moment to load the decoder). */
  warm(): void {
    if (this.slots.length > 0) return;
    this.spawn().child.hold(false);
    this.dispatch();
  }

  /** Kills every process; waiting decodes fail. */
  close(): void {
    for (const job of this.waiting.splice(0)) this.settle(job, new Error('the photo decoder was closed'));
    for (const slot of [...this.slots]) slot.child.kill();
  }

  private settle(job: Job, result: RgbImage | Error): void {
    if (job.onAbort) job.signal?.removeEventListener('abort', job.onAbort);
    if (result instanceof Error) job.reject(result);
    else job.resolve(result);
  }

  private cancel(job: Job): void {
    const queued = this.waiting.indexOf(job);
    if (queued >= 0) this.waiting.splice(queued, 1);
    const slot = this.slots.find((s) => s.job === job);
    if (slot) {
      slot.job = undefined;
      this.drop(slot);
      slot.child.kill();
    }
    this.settle(job, abortError(job.signal));
    this.dispatch();
  }

  private drop(slot: Slot): void {
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    clearTimeout(slot.idle);
  }

  private spawn(): Slot {
    const { file, execArgv } = processEntry(import.meta.url, 'decode-process');
    const slot: Slot = {} as Slot;
    slot.child = spawner(file, execArgv, {
      reply: (msg, data) => {
        const job = slot.job;
        if (job === undefined || job.req.id !== msg.id) return;
        slot.job = undefined;
        slot.child.hold(false);
        if (msg.ok) {
          this.settle(job, { data: data ?? new Uint8Array(0), width: msg.width, height: msg.height, channels: 3 });
        } else {
          const err = msg.error.name === 'ImageError' && msg.error.file !== undefined
            ? new ImageError(msg.error.file, msg.error.message.slice(msg.error.file.length + 2))
            : Object.assign(new Error(msg.error.message), { name: msg.error.name });
          this.settle(job, err);
        }
        this.dispatch();
      },
      exit: (code, signal) => {
        this.drop(slot);
        const job = slot.job;
        slot.job = undefined;
        if (job) this.settle(job, new ImageError(job.req.name, stopped(code, signal)));
        this.dispatch();
      },
    });
    this.slots.push(slot);
    return slot;
  }

  private dispatch(): void {
    while (this.waiting.length > 0) {
      let slot = this.slots.find((s) => s.job === undefined);
      if (slot === undefined) {
        if (this.slots.length >= this.size) return;
        slot = this.spawn();
      }
      const job = this.waiting.shift() as Job;
      clearTimeout(slot.idle);
      slot.idle = undefined;
      slot.job = job;
      slot.child.hold(true);
      slot.child.send(job.req, job.bytes);
    }
    for (const slot of this.slots) {
      if (slot.job !== undefined || slot.idle !== undefined) continue;
      slot.idle = setTimeout(() => {
        if (slot.job !== undefined) return;
        this.drop(slot);
        slot.child.kill();
      }, IDLE_MS);
      slot.idle.unref();
    }
  }
}

let shared: DecodeProcesses | undefined;

/** The process-wide pool of decoding processes. */
export function decodeProcesses(): DecodeProcesses {
  shared ??= new DecodeProcesses();
  return shared;
}
