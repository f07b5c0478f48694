/** Worker thread entry of convert-thread.ts: runs prepareModel once and posts the result back. */
import { parentPort, workerData } from 'node:worker_threads';
import type { ConvertReply, ConvertRequest } from './convert-thread';
import { modelHash } from './cache';
import { prepareModel } from './models';

const port = parentPort;
if (!port) throw new Error('convert-worker must run in a worker thread');
const req = workerData as ConvertRequest;
const post = (reply: ConvertReply): void => port.postMessage(reply);

prepareModel(req.target, {
  preprocess: req.preprocess,
  stride: req.stride,
  builtinDir: req.builtinDir,
  output: req.output,
  labelsFile: req.labelsFile,
  onStage: (stage) => post({ type: 'stage', stage }),
}).then(
  // The cache key hashes every weight: done here, not on the main thread.
  ({ info, artifacts }) => post({ type: 'done', prepared: { info, artifacts, modelKey: modelHash(artifacts, info) } }),
  (err: unknown) => post(err instanceof Error
    ? { type: 'error', name: err.name, message: err.message }
    : { type: 'error', name: 'Error', message: String(err) }),
);
