/**
 * One ONNX Runtime session in a process of its own (./onnx-process, as the engine starts it), for the
 * few runs of a conversion's checks on a big model. Released, the process ends and all its memory is
 * the system's again: in the converting process a released session's memory stayed (glibc keeps
 * freed pages for later) and the next session, and tfjs's WebAssembly heap, which never shrinks,
 * stacked on it — on VGG19 the conversion's peak.
 */
import os from 'node:os';
import { forkOnnxHostWith, type SpawnOnnxHost } from './onnx-host';
import { PROBE_MODEL, startHost, stoppedMessage, type StartedHost } from './onnx-engine';
import type { FromOnnxHost, OnnxHostInit } from './onnx-protocol';
import { PROCESS_ENDED, type TensorSession } from '../onnx/tensor-session';

type Reply = FromOnnxHost & { jobId: number };

/**
 * glibc hands blocks of 128 KiB and more straight back to the system when freed (its default
 * threshold rises up to 32 MiB as big blocks are freed, and freed memory below it stays): the
 * session's load frees its parse buffers before the weights' tensors are all allocated.
 */
const CHECK_ENV: NodeJS.ProcessEnv = { ...process.env, MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ ?? '131072' };

/**
 * Opens `file` (an ONNX model with inputs and outputs named as main/ort/names says) on the CPU, not
 * optimised and with its threads asleep between runs (main/onnx/one-off-session), in a new process.
 * release() ends the process; so does this process's end (the child watches its parent).
 * @param threads ONNX Runtime's intra-op threads (default: every core)
 * @throws ONNX Runtime's message when the process does not start or the model does not open; an
 *   error named {@link PROCESS_ENDED} (why it ended: SIGKILL, most often the system out of memory) for
 *   requests once the process has ended
 */
export async function openInOwnProcess(file: string, threads = os.availableParallelism(), spawn: SpawnOnnxHost = forkOnnxHostWith(CHECK_ENV)): Promise<TensorSession> {
  const pending = new Map<number, { resolve(r: Reply): void; reject(e: Error): void }>();
  let ended: Error | undefined;
  const init: OnnxHostInit = { device: 'cpu', threads, probe: new Uint8Array(Buffer.from(PROBE_MODEL, 'base64')) };
  const started: StartedHost = await startHost(spawn, init, {
    message: (msg) => {
      if (!('jobId' in msg)) return;
      const p = pending.get(msg.jobId);
      pending.delete(msg.jobId);
      p?.resolve(msg);
    },
    exit: (code, signal) => {
      ended = Object.assign(new Error(stoppedMessage(code, signal)), { name: PROCESS_ENDED });
      for (const p of pending.values()) p.reject(ended);
      pending.clear();
    },
  });
  let nextJob = 1;
  const request = <T extends Reply['type']>(build: (jobId: number) => Parameters<typeof started.host.post>[0], want: T): Promise<Reply & { type: T }> =>
    new Promise<Reply>((resolve, reject) => {
      if (ended) return reject(ended);
      const jobId = nextJob++;
      pending.set(jobId, { resolve, reject });
      started.host.post(build(jobId));
    }).then((reply) => {
      if (reply.type === 'error') throw new Error(reply.message);
      if (reply.type !== want) throw new Error(`the ONNX Runtime process replied ${reply.type} to a request for ${want}`);
      return reply as Reply & { type: T };
    });
  const release = async (): Promise<void> => {
    started.host.kill();
    await started.exited;
  };
  try {
    await request((jobId) => ({ type: 'openOneOff', jobId, modelId: 'check', file }), 'opened');
  } catch (err) {
    await release();
    throw err;
  }
  return {
    run: async (input, dims) => {
      // A view is cloned with its whole buffer: a crop of a batch goes alone.
      const whole = input.byteOffset === 0 && input.byteLength === input.buffer.byteLength ? input : input.slice();
      const reply = await request((jobId) => ({ type: 'runTensor', jobId, modelId: 'check', input: whole, dims: [...dims] }), 'tensor');
      return { output: reply.output, dims: reply.dims };
    },
    release,
  };
}
