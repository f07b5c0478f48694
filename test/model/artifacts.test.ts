// modelToArtifacts writes each weight straight into one buffer (tfjs's encoder holds a copy of every
// weight beside the joined buffer): the artifacts must be byte for byte what tfjs's model.save gives.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { modelToArtifacts, writeModelWeights } from '../../main/model/artifacts';
import { randomizeWeights, useWasm } from '../helpers/models';

beforeAll(useWasm);

async function savedByTfjs(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (a) => {
    saved = a;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  return saved as tf.io.ModelArtifacts;
}

describe('modelToArtifacts', () => {
  it('gives the topology, weight specs and bytes tfjs\'s model.save gives (nested model, BatchNormalization, no-bias Dense)', async () => {
    const inner = tf.sequential({ name: 'trunk' });
    inner.add(tf.layers.conv2d({ inputShape: [12, 12, 3], filters: 5, kernelSize: 3, activation: 'relu' }));
    inner.add(tf.layers.batchNormalization({}));
    const input = tf.input({ shape: [12, 12, 3] });
    const x = tf.layers.flatten().apply(inner.apply(input) as tf.SymbolicTensor) as tf.SymbolicTensor;
    const y = tf.layers.dense({ units: 4, useBias: false, activation: 'softmax' }).apply(x) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: y });
    randomizeWeights(model, 8);
    try {
      const [ours, theirs] = [await modelToArtifacts(model), await savedByTfjs(model)];
      expect(ours.modelTopology).toEqual(theirs.modelTopology);
      expect(ours.weightSpecs).toEqual(theirs.weightSpecs);
      expect(ours.format).toBe(theirs.format);
      const a = new Uint8Array(ours.weightData as ArrayBuffer);
      const b = new Uint8Array(theirs.weightData as ArrayBuffer);
      expect(a.byteLength).toBe(b.byteLength);
      expect(a.byteLength).toBeGreaterThan(0);
      expect(Buffer.compare(Buffer.from(a), Buffer.from(b))).toBe(0);
    } finally {
      model.dispose();
    }
  });

  it('writeModelWeights writes the bytes of tfjs\'s model.save to a file, and gives its topology and specs without weightData (weights larger than its buffer)', async () => {
    const input = tf.input({ shape: [6, 6, 2] });
    const c = tf.layers.conv2d({ filters: 3, kernelSize: 2 }).apply(input) as tf.SymbolicTensor;
    const y = tf.layers.dense({ units: 2 }).apply(tf.layers.flatten().apply(c) as tf.SymbolicTensor) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: y });
    randomizeWeights(model, 3);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'convmap-artifacts-'));
    try {
      const file = path.join(dir, 'weights.bin');
      await writeFile(file, new Uint8Array(4096).fill(7)); // a longer file there is truncated
      const [ours, theirs] = [await writeModelWeights(model, file, 64), await savedByTfjs(model)];
      expect(ours.weightData).toBeUndefined();
      expect(ours.modelTopology).toEqual(theirs.modelTopology);
      expect(ours.weightSpecs).toEqual(theirs.weightSpecs);
      const written = await readFile(file);
      expect(written.byteLength).toBe(4 * (2 * 2 * 2 * 3 + 3 + 5 * 5 * 3 * 2 + 2));
      expect(Buffer.compare(written, Buffer.from(theirs.weightData as ArrayBuffer))).toBe(0);
    } finally {
      model.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
