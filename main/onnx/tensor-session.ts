/**
 * The sessions of a conversion's checks (./check-converted, ./crops): a one-off session (see
 * ./one-off-session) in this process for a small model, in a process of its own for a big one
 * (main/engine/onnx-one-off, given from the floor above), whose memory goes back to the system when
 * it is released instead of staying beside tfjs's heap in this one.
 */
import { stat } from 'node:fs/promises';
import os from 'node:os';
import { runTensor } from '../ort/runtime';
import { oneOffFileSession } from './one-off-session';

/** The name of the error an own-process session's requests fail with once its process has ended (killed, crashed). */
export const PROCESS_ENDED = 'OnnxProcessEnded';

/** A model's one float32 input (ONNX_INPUT) in, its ONNX_OUTPUT out. */
export interface TensorSession {
  /**
   * @param input row-major, of `dims`
   * @returns the output, row-major, and its dims
   */
  run(input: Float32Array, dims: readonly number[]): Promise<{ output: Float32Array; dims: number[] }>;
  release(): Promise<void>;
}

/**
 * ONNX files from this size (bytes) are checked in a process of their own: starting one (Node and
 * ONNX Runtime, 0.2–0.5 s) is then small next to the session, and the memory it gives back large.
 */
export const OWN_PROCESS_BYTES = 64 * 2 ** 20;

/** How to open a session in a process of its own, and from which file size. */
export interface OwnProcess {
  /** Opens a one-off session of an ONNX file in a new process (main/engine/onnx-one-off's openInOwnProcess). */
  open(file: string): Promise<TensorSession>;
  /** Files from this many bytes go there (default {@link OWN_PROCESS_BYTES}). */
  minBytes?: number;
}

/**
 * Whether a session of the ONNX file `file` opens in a process of its own: where `own` is given, for
 * files of its minBytes or more, and not in Electron (whose utility processes only its main thread
 * starts; a conversion there runs in a worker thread).
 */
export async function inOwnProcess(file: string, own: OwnProcess | undefined): Promise<boolean> {
  if (own === undefined || process.versions.electron !== undefined) return false;
  return (await stat(file)).size >= (own.minBytes ?? OWN_PROCESS_BYTES);
}

/**
 * A one-off session of the ONNX file `file` on the CPU (not optimised, threads asleep between runs),
 * in a process of its own where {@link inOwnProcess} says so.
 * @throws ONNX Runtime's message when the model does not open
 */
export async function openTensorSession(file: string, own: OwnProcess | undefined): Promise<TensorSession> {
  if (own !== undefined && (await inOwnProcess(file, own))) return own.open(file);
  const { session } = await oneOffFileSession(file, { device: 'cpu', threads: os.availableParallelism(), spinning: false });
  return { run: (input, dims) => runTensor(session, input, dims), release: () => session.release() };
}
