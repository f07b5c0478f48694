/**
 * A child process that dies with its parent, even while its own main thread is blocked (the ONNX
 * Runtime process, main/engine/onnx-process, and the photo decoding process, ./decode-process):
 * ONNX Runtime's run is synchronous in the ONNX Runtime process, so an IPC 'disconnect'
 * listener there is heard only after the tile ends, and a SIGKILLed CLI's child went on computing
 * until then (issue 19). Linux's PR_SET_PDEATHSIG is not reachable from Node; a worker thread that
 * polls the parent's pid is, on every platform: the kernel gives an orphan a new parent.
 */
import { Worker } from 'node:worker_threads';

/** How often the watch looks at the parent, milliseconds. */
export const PARENT_POLL_MS = 200;

/** Runs on its own thread: the parent pid changes when the parent dies (the orphan is adopted). */
const WATCH = `
const { workerData } = require('node:worker_threads');
setInterval(() => {
  if (process.ppid !== workerData.parent) process.kill(process.pid, 'SIGKILL');
}, workerData.pollMs);
`;

/**
 * Starts a worker thread that SIGKILLs this process as soon as its parent process is gone. The
 * worker does not keep the process alive. Call once, early, in a child process.
 * @returns the worker (for tests); it never ends on its own.
 */
export function dieWithParent(pollMs = PARENT_POLL_MS): Worker {
  const worker = new Worker(WATCH, { eval: true, workerData: { parent: process.ppid, pollMs }, execArgv: [], stdout: false, stderr: false });
  worker.unref();
  return worker;
}
