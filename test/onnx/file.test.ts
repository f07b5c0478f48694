import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertClassifier } from '../../main/convert/convert';
import { exportOnnx } from '../../main/onnx/export';
import { randomizeWeights, useWasm } from '../helpers/models';

beforeAll(useWasm);

const PYTHON = '/usr/bin/python3';
function onnxPackage(): string | null {
  try {
    execFileSync(PYTHON, ['-c', 'import onnx'], { stdio: 'ignore' });
    return null;
  } catch {
    return `${PYTHON} with the onnx package is not installed`;
  }
}
const missing = onnxPackage();
if (missing) console.log(`skipped: ${missing}`);

const made: tf.LayersModel[] = [];
afterAll(() => made.forEach((m) => m.dispose()));

describe('the written ONNX file, read by the onnx Python package', () => {
  it.skipIf(missing !== null)('passes onnx.checker (full check, shape inference), opset 17, NHWC input and output with free height and width', async () => {
    const m = tf.sequential({
      layers: [
        tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', inputShape: [20, 20, 3], activation: 'relu' }),
        tf.layers.batchNormalization({}),
        tf.layers.depthwiseConv2d({ kernelSize: 3 }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 5, activation: 'softmax' }),
      ],
    });
    randomizeWeights(m, 1);
    made.push(m);
    const c = convertClassifier(m, 'm.json');
    made.push(c.fcn);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-onnx-file-'));
    try {
      const file = path.join(dir, 'model.onnx');
      await fs.writeFile(file, exportOnnx(c.fcn, 'm.json', { metadata: { window: '20,20' } }).bytes);
      const script = [
        'import json, sys, onnx',
        'm = onnx.load(sys.argv[1])',
        'onnx.checker.check_model(m, full_check=True)',
        'dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]',
        'ops = sorted({n.op_type for n in m.graph.node})',
        'print(json.dumps({"opset": m.opset_import[0].version, "ir": m.ir_version, "input": dims(m.graph.input[0]), "output": dims(m.graph.output[0]),',
        '  "transposes": sum(n.op_type == "Transpose" for n in m.graph.node), "ops": ops, "meta": {p.key: p.value for p in m.metadata_props}}))',
      ].join('\n');
      const report = JSON.parse(execFileSync(PYTHON, ['-c', script, file], { encoding: 'utf8' })) as Record<string, unknown>;
      expect(report).toEqual({
        opset: 17, ir: 8,
        input: ['batch', 'height', 'width', 3], output: ['batch', 'rows', 'cols', 5],
        transposes: 2,
        ops: ['BatchNormalization', 'Conv', 'MaxPool', 'Relu', 'Softmax', 'Transpose'],
        meta: { window: '20,20' },
      });
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
