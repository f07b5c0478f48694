/** Worker thread entry of convert-thread.ts: runs prepareModel once and posts the result back. */
import { parentPort, workerData } from 'node:worker_threads';
import type { ConvertReply, ConvertRequest } from './convert-thread';
import { modelHash } from '../storage/cache';
import { prepareModel, type PreparedModel } from '../models';

const port = parentPort;
if (!port) throw new Error('convert-worker must run in a worker thread');
const req = workerData as ConvertRequest;
const post = (reply: ConvertReply): void => port.postMessage(reply);

async function prepare(): Promise<PreparedModel> {
  const { conversion: _conversion, ...prepared } = await prepareModel(req.target, {
    preprocess: req.preprocess,
    stride: req.stride,
    builtinDir: req.builtinDir,
    output: req.output,
    labelsFile: req.labelsFile,
    window: req.window,
    cache: req.cache,
    // The CLI's rule: the fastest tfjs backend that loads (a thread starts on tfjs's plain-JS one).
    backend: req.backend ?? 'auto',
    // What this thread prepares is opened with openSession (window/app-service), which reads deferred weights.
    deferWeights: true,
    onStage: (stage) => post({ type: 'stage', stage }),
  });
  // The cache key hashes every weight: done here, not on the main thread (a converted folder's is its
  // model.onnx's digest, its weights not read).
  return { ...prepared, modelKey: prepared.modelKey ?? modelHash(prepared.artifacts, prepared.info) };
}

prepare().then(
  (prepared) => post({ type: 'done', prepared }),
  (err: unknown) => post(err instanceof Error
    ? { type: 'error', name: err.name, message: err.message }
    : { type: 'error', name: 'Error', message: String(err) }),
);
