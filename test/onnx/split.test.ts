import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeModel, decodeModel } from '../../main/onnx/proto';
import { exportOnnx, exportOnnxFile, exportOnnxGraph } from '../../main/onnx/export';
import { randomizeWeights, useWasm } from '../helpers/models';
import { relativeDiffs } from './helpers';

beforeAll(useWasm);

const made: tf.LayersModel[] = [];
afterAll(() => made.forEach((m) => m.dispose()));

/** conv 3×3 (3 → 8) then a 5×5 conv to 10 classes (a Dense head as the converter writes it), softmax. */
function fcn(): tf.LayersModel {
  const input = tf.input({ shape: [null, null, 3] });
  const a = tf.layers.conv2d({ filters: 8, kernelSize: 3, activation: 'relu' }).apply(input) as tf.SymbolicTensor;
  const b = tf.layers.conv2d({ filters: 10, kernelSize: 5, activation: 'softmax' }).apply(a) as tf.SymbolicTensor;
  const m = tf.model({ inputs: input, outputs: b });
  randomizeWeights(m, 3);
  made.push(m);
  return m;
}

describe('big convolution kernels are written as Convs over groups of output channels', () => {
  it('a head kernel over the limit becomes three Convs and a Concat, and still equals tfjs (softmax over all ten classes)', async () => {
    const m = fcn();
    // The head kernel is 5·5·8·10 floats = 8000 bytes; a 3000-byte limit gives ceil(8000 / 3000) = 3 parts.
    const { bytes } = exportOnnx(m, 'split.json', { maxConvWeightBytes: 3000 });
    const graph = decodeModel(bytes).graph;
    const concat = graph.node.filter((n) => n.opType === 'Concat');
    expect(concat).toHaveLength(1);
    const parts = concat[0].input.map((name) => graph.node.find((n) => n.output[0] === name));
    expect(parts.map((n) => n?.opType)).toEqual(['Conv', 'Conv', 'Conv']);
    const dims = parts.map((n) => graph.initializer.find((t) => t.name === n?.input[1])?.dims);
    // 10 output channels as floor(p·10/3) boundaries: 0–3, 3–6, 6–10.
    expect(dims).toEqual([[3, 8, 5, 5], [3, 8, 5, 5], [4, 8, 5, 5]]);
    // The first conv (8·3·3·3·4 = 864 bytes) stays whole.
    expect(graph.node.filter((n) => n.opType === 'Conv')).toHaveLength(4);
    for (const d of await relativeDiffs(m, bytes, [[9, 9], [16, 21]])) expect(d).toBeLessThanOrEqual(1e-5);
  });

  it('the streamed file holds exactly the bytes of the in-memory export (kernels split and deferred), and no temporary is left', async () => {
    const m = fcn();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'convmap-split-'));
    try {
      const file = path.join(dir, 'model.onnx');
      const opts = { maxConvWeightBytes: 3000, metadata: { 'convmap.window': '7,7' } };
      const { layers } = await exportOnnxFile(m, 'split.json', file, opts);
      const { bytes, layers: inMemory } = exportOnnx(m, 'split.json', opts);
      const written = new Uint8Array(await readFile(file));
      expect(written.byteLength).toBe(bytes.byteLength);
      expect(Buffer.compare(Buffer.from(written), Buffer.from(bytes))).toBe(0);
      expect(layers).toEqual(inMemory);
      expect(await readdir(dir)).toEqual(['model.onnx']);
      // And it runs: the head's three parts against tfjs.
      for (const d of await relativeDiffs(m, written, [[11, 13]])) expect(d).toBeLessThanOrEqual(1e-5);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('under the default limit nothing is split', () => {
    const { bytes } = exportOnnx(fcn(), 'split.json');
    const ops = decodeModel(bytes).graph.node.map((n) => n.opType);
    expect(ops.filter((o) => o === 'Conv')).toHaveLength(2);
    expect(ops).not.toContain('Concat');
  });

  it('the hand-assembled encoding keeps every initializer byte and releases the graph copies when asked', () => {
    const m = fcn();
    const { model } = exportOnnxGraph(m, 'split.json');
    const want = model.graph.initializer.map((t) => ({ name: t.name, dims: t.dims, bytes: Array.from(t.rawData) }));
    const bytes = encodeModel(model, { release: true });
    expect(model.graph.initializer.every((t) => t.rawData.byteLength === 0)).toBe(true);
    const got = decodeModel(bytes).graph.initializer.map((t) => ({ name: t.name, dims: t.dims, bytes: Array.from(t.rawData) }));
    expect(got).toEqual(want);
    // The kernels against tfjs's own weights, transposed HWIO → OIHW by hand.
    const k = m.layers[2].getWeights()[0];
    const [kh, kw, ci, co] = k.shape;
    const hwio = k.dataSync();
    const oihw = new Float32Array(hwio.length);
    for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < ci; i++) for (let o = 0; o < co; o++) oihw[((o * ci + i) * kh + y) * kw + x] = hwio[((y * kw + x) * ci + i) * co + o];
    const stored = got.find((t) => t.dims.join() === [co, ci, kh, kw].join());
    expect(Array.from(new Float32Array(Uint8Array.from(stored?.bytes ?? []).buffer))).toEqual(Array.from(oihw));
  });
});
