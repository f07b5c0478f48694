/**
 * The process ONNX Runtime runs in. onnxruntime-node 1.30 cannot interrupt a run (its binding
 * ignores RunOptions.terminate, and stopping a worker thread mid-run aborts the whole process), so
 * the sessions live in a child process that Cancel can kill mid-tile; the engine then starts another
 * and reopens its models from their files. Node starts it with child_process.fork; Electron, whose
 * fuses turn off ELECTRON_RUN_AS_NODE, with utilityProcess (main/electron/onnx-utility.ts).
 */
import { fork } from 'node:child_process';
import { processEntry } from '../io/start-worker';
import type { FromOnnxHost, ToOnnxHost } from './onnx-protocol';

/** What the engine hears from its process. */
export interface OnnxHostEvents {
  message(msg: FromOnnxHost): void;
  /** The process ended (killed, crashed, or failed to start); called once. */
  exit(code: number | null, signal?: NodeJS.Signals | null): void;
}

/** One started process. Messages are structured clones, handled in order. */
export interface OnnxHost {
  post(msg: ToOnnxHost): void;
  /** Ends the process at once (SIGKILL), even inside a run. */
  kill(): void;
}

/**
 * Starts the process entry (main/engine/onnx-process, .ts or .js) with the given Node flags.
 * @param file the entry module.
 * @param execArgv Node flags for the child (tsx's loader when the entry is TypeScript).
 */
export type SpawnOnnxHost = (file: URL, execArgv: string[], events: OnnxHostEvents) => OnnxHost;

/** A Node child process through child_process.fork (the CLI, tests, the bench). */
export const forkOnnxHost: SpawnOnnxHost = (file, execArgv, events) => forkOnnxHostWith(process.env)(file, execArgv, events);

/** {@link forkOnnxHost} with the child's environment `env` (e.g. glibc's malloc tunables, read at its start). */
export const forkOnnxHostWith = (env: NodeJS.ProcessEnv): SpawnOnnxHost => (file, execArgv, events) => {
  const child = fork(file, [], { execArgv, env, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let ended = false;
  const end = (code: number | null, signal?: NodeJS.Signals | null): void => {
    if (ended) return;
    ended = true;
    events.exit(code, signal);
  };
  child.on('message', (msg) => events.message(msg as FromOnnxHost));
  child.on('exit', (code, signal) => end(code, signal));
  // Also emitted for a failed send, which the exit that follows reports; only a spawn failure ends it here.
  child.on('error', () => {
    if (child.pid === undefined) end(null);
  });
  return {
    post: (msg) => {
      if (child.connected) child.send(msg, () => undefined);
    },
    kill: () => {
      child.kill('SIGKILL');
    },
  };
};

/**
 * The environment of the command line's ONNX Runtime process: glibc's malloc serves blocks under
 * 128 MiB from its heap and keeps up to 256 MiB free at its top (MALLOC_MMAP_THRESHOLD_,
 * MALLOC_TRIM_THRESHOLD_; a value the user set wins). ONNX Runtime's arena is off (main/ort/runtime),
 * so each pass allocates its activations afresh: above glibc's dynamic threshold (32 MiB at most)
 * they were mapped and unmapped every pass, and the kernel zeroed their pages again. A Teachable
 * Machine model's 7 passes over a 1 MP photo (its 96-channel maps are ~96 MB at full size), bare
 * session, 10 rounds: system CPU 45–52 → 9–10 ms a photo, peak RSS about the same (287–333 against
 * 301–303 MiB). The price is memory kept between passes: VGG16 at 384² and 1000×800, peak 1139 →
 * 1383 MiB. Other operating systems ignore these variables.
 */
export const ENGINE_PROCESS_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ ?? String(128 << 20),
  MALLOC_TRIM_THRESHOLD_: process.env.MALLOC_TRIM_THRESHOLD_ ?? String(256 << 20),
};

/** A process started ahead of its engine (see {@link prestartOnnxHost}). */
export interface PrestartedOnnxHost {
  /** The spawner to give the engine: its first start takes the started process, later ones start anew. */
  spawn: SpawnOnnxHost;
  /** Kills the process if no engine took it (a refusal before the run); else does nothing. */
  dispose(): void;
}

/**
 * Starts the ONNX Runtime process now, before the engine exists: the CLI calls it first, so that the
 * process loads Node and ONNX Runtime while the CLI loads its own modules and reads the model (about
 * a third of a one-photo run was spent waiting for the process after the model was read). What it
 * says before the engine takes it over is kept and told to the engine then, in order.
 * @param spawn how to start it (default child_process.fork).
 */
export function prestartOnnxHost(spawn: SpawnOnnxHost = forkOnnxHost): PrestartedOnnxHost {
  const { file, execArgv } = processEntry(import.meta.url, 'onnx-process');
  let owner: OnnxHostEvents | undefined;
  const heard: ((to: OnnxHostEvents) => void)[] = [];
  let waiting: OnnxHost | undefined = spawn(file, execArgv, {
    message: (msg) => (owner ? owner.message(msg) : void heard.push((to) => to.message(msg))),
    exit: (code, signal) => (owner ? owner.exit(code, signal) : void heard.push((to) => to.exit(code, signal))),
  });
  return {
    spawn: (entry, args, events) => {
      const host = waiting;
      if (host === undefined || entry.href !== file.href) return spawn(entry, args, events);
      waiting = undefined;
      owner = events;
      for (const tell of heard.splice(0)) tell(events);
      return host;
    },
    dispose: () => {
      waiting?.kill();
      waiting = undefined;
    },
  };
}
