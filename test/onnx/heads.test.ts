/**
 * Classifier heads as common PyTorch code writes them, exported by Debian's python3-torch
 * (`scripts/onnx_fixtures.py heads`): fastai's vision head, whose max and average pools to 1×1 sit
 * side by side (the max pool exported as a MaxPool over the whole map), and a head after `x.squeeze()`
 * with no dimension, which drops the batch of one too; and the classic squeeze-and-excitation block,
 * whose `expand_as` Convmap reads as the broadcast the Mul after it does anyway; GeM pooling; CBAM and its
 * spatial gate (the max and the mean over the channels). The oracle is ONNX Runtime running each ORIGINAL
 * file on the crop of every cell.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { useWasm } from '../helpers/models';
import { prepareModel } from '../../main/services/models';
import { decodeModel } from '../../main/onnx/proto';
import { cellsAgainstCrops, convert, itMatchesCropsEach } from './helpers';

beforeAll(useWasm);

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

describe('PyTorch\'s classic squeeze-and-excitation block (x * y.expand_as(x))', () => {
  it('converts: at the window its one cell equals the original file; on a larger photo it is graded, its global pool read over the window around each cell', async () => {
    const file = path.join(fixtures, 'se_expand_as.onnx');
    const one = await cellsAgainstCrops(file, file, 'nchw', 1);
    expect(one.diffs).toHaveLength(1);
    expect(one.diffs[0]).toBeLessThan(1e-4);
    const prepared = await prepareModel(file);
    expect(prepared.info.equivalence?.exact).toBe(false);
    expect(prepared.info.equivalence?.note).toMatch(/Squeeze-and-Excitation GlobalAveragePooling2D → average over the \d+×\d+ window/);
  }, 60_000);
});

describe('CBAM (its reference code: channel and spatial gates)', () => {
  it('converts (its rebuild checked against ONNX Runtime on the file; graded: its channel gate pools the whole map); the converted model keeps ReduceMax and ReduceMean over the channels', async () => {
    const file = path.join(fixtures, 'cbam.onnx');
    const { bytes, info } = await convert(file);
    expect(info.equivalence?.exact).toBe(false);
    const reduces = decodeModel(bytes).graph.node.filter((n) => n.opType === 'ReduceMax' || n.opType === 'ReduceMean');
    expect(reduces.map((n) => n.opType).sort()).toEqual(['ReduceMax', 'ReduceMean']);
    for (const n of reduces) expect(n.attribute.find((a) => a.name === 'axes')?.ints).toEqual([1]);
  }, 60_000);
});

describe('GeM pooling in the converted model', () => {
  it('is written back as ONNX Pow by the constant exponents (3 and 1/3), the 1/3 folded from the Reciprocal of the learned p', async () => {
    const { bytes } = await convert(path.join(fixtures, 'head_gem.onnx'));
    const graph = decodeModel(bytes).graph;
    const exponents = graph.node.filter((n) => n.opType === 'Pow').map((n) => {
      const init = graph.initializer.find((t) => t.name === n.input[1]);
      return init ? new Float32Array(init.rawData.slice().buffer)[0] : NaN;
    });
    expect(exponents.map((e) => +e.toFixed(5))).toEqual([3, +(1 / 3).toFixed(5)]);
  }, 60_000);
});

describe('PyTorch classifier heads', () => {
  itMatchesCropsEach(fixtures, [
    ['head_concat_pool', 'fastai\'s AdaptiveConcatPool2d (MaxPool over the whole map beside GlobalAveragePool, concatenated), BatchNorm1d, Linear, ReLU, BatchNorm1d, Linear'],
    ['head_squeeze_all', 'x.squeeze() without a dimension after the pool (the batch of one squeezed too), then a Linear'],
    ['head_gem', 'GeM pooling: Clip, Pow by a learned p, the average pool over the whole map, Pow by its Reciprocal'],
    ['spatial_gate', 'CBAM\'s spatial gate: ReduceMax over the channels then Unsqueeze, beside ReduceMean keeping them, a convolution, a sigmoid, the product'],
    ['head_cosine', 'a cosine classifier\'s head: F.normalize (ReduceL2 over the channels, Clip, Expand, Div of two computed tensors), a Linear, a scale'],
    ['activations_o13', 'ELU(0.5), CELU(0.7), GELU\'s tanh form before opset 20 (its x · x a Mul of one tensor with itself), Tanhshrink (a Sub of two computed tensors)'],
  ]);
});
