/**
 * PyTorch exports at opsets before 11 and 13, where Clip's bounds and Split's sizes are attributes
 * (torchvision's MobileNetV2 and ShuffleNetV2 at PyTorch's old default opset 9). ReLU6 there is a
 * Clip whose `min` attribute is set to 0: an attribute set to zero must be read as set. Also opset 18's
 * Split by `num_outputs`. The fixtures are written by `scripts/onnx_fixtures.py splitclip` and
 * `scripts/onnx_zoo_fixtures.py`; the oracle is ONNX Runtime running each
 * ORIGINAL file on the crop of every cell, and the onnx package's own reading of the attributes.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseOnnx } from '../../main/model/onnx/read';
import { useWasm } from '../helpers/models';
import { itMatchesCropsEach } from './helpers';

beforeAll(useWasm);

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

describe('PyTorch exports at old opsets', () => {
  it('reads attributes set to zero as set: ReLU6\'s Clip min 0 and ReduceMean keepdims 0 (as `onnx` prints them)', async () => {
    const file = path.join(fixtures, 'split_clip_o9.onnx');
    const model = await parseOnnx(new Uint8Array(await readFile(file)), file);
    const clips = model.nodes.filter((n) => n.opType === 'Clip').map((n) => ({ min: n.attribute.get('min')?.f, max: n.attribute.get('max')?.f }));
    // python3 -c "import onnx; …": [('max', 6.0), ('min', 0.0)], [('max', 1.0), ('min', -1.0)], [('min', -0.5)], [('max', 0.25)]
    expect(clips).toEqual([{ min: 0, max: 6 }, { min: -1, max: 1 }, { min: -0.5, max: undefined }, { min: undefined, max: 0.25 }]);
    const mean = model.nodes.find((n) => n.opType === 'ReduceMean');
    expect(mean?.attribute.get('keepdims')?.i).toBe(0);
    expect(model.nodes.filter((n) => n.opType === 'Split').map((n) => n.attribute.get('split')?.ints)).toEqual([[4, 4], [3, 5]]);
  });

  itMatchesCropsEach(fixtures, [
    ['split_clip_o9', 'opset 9 (attributes): ReLU6 as Clip(min 0, max 6), Split into halves and 3 + 5, hardtanh(−1, 1), Clip with only a min, only a max'],
    ['split_clip_o13', 'opset 13 (inputs): the same network, Clip bounds and Split sizes as inputs'],
    ['pooled_softmax_o9', 'opset 9: softmax over dim 1 of a pooled [N, C, 1, 1] map as Transpose [0, 3, 2, 1], Softmax, Transpose back; then squeeze(-1) twice'],
    ['pooled_softmax_o13', 'opset 13: the same softmax as Softmax over axis 1; the first squeeze leaves [N, C, 1]'],
    // Written node by node by scripts/onnx_zoo_fixtures.py (PyTorch 1.13 writes no opset 18).
    ['split_o18', 'opset 18: Split by num_outputs, 10 channels into 4, 4 and 2 (ONNX: the last part smaller)'],
  ]);
});
