// modelToArtifacts writes each weight straight into one buffer (tfjs's encoder holds a copy of every
// weight beside the joined buffer): the artifacts must be byte for byte what tfjs's model.save gives.
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { modelToArtifacts } from '../../main/model/artifacts';
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
});
