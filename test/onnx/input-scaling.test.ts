/**
 * The affine map a graph applies to its own input, composed by hand from each case's constants, and
 * the pixel range it implies.
 */
import { describe, expect, it } from 'vitest';
import { pixelRangeOfScale } from '../../core/preprocess-guess';
import { inputScaling } from '../../main/model/onnx/input-scaling';
import type { OnnxModelFile, OnnxNode, OnnxTensor } from '../../main/model/onnx/read';

const node = (opType: string, input: string[], output: string): OnnxNode => ({ name: output, opType, domain: '', input, output: [output], attribute: new Map() });
const tensor = (name: string, dims: number[], values: number[]): OnnxTensor => ({ name, dims, dataType: 1, values: Float32Array.from(values) });

function graph(nodes: OnnxNode[], constants: OnnxTensor[]): OnnxModelFile {
  return {
    file: 'm.onnx', producer: '', opset: 13, nodes, initializers: new Map(constants.map((t) => [t.name, t])),
    inputs: [{ name: 'x', elemType: 1, dims: [1, 3, 8, 8] }], outputs: [], metadata: {}, externalData: false,
  } as OnnxModelFile;
}

describe('the scaling a graph applies to its input', () => {
  it('composes Mul, Sub with the constant first, and Add: 2x, then 1 − 2x, then 1 − 2x + 0.5', () => {
    const m = graph([node('Mul', ['x', 'two'], 'a'), node('Sub', ['one', 'a'], 'b'), node('Add', ['b', 'half'], 'c'), node('Conv', ['c', 'w'], 'y')],
      [tensor('two', [], [2]), tensor('one', [], [1]), tensor('half', [1], [0.5])]);
    expect(inputScaling(m, 'x', 3)).toEqual({ scale: [-2], offset: [1.5], nodes: ['a', 'b', 'c'] });
  });

  it('keeps one value per channel through a Transpose and a Cast, from a [1, 3, 1, 1] constant', () => {
    const m = graph([node('Transpose', ['x'], 't'), node('Cast', ['t'], 'u'), node('Div', ['u', 'std'], 'v'), node('Conv', ['v', 'w'], 'y')],
      [tensor('std', [1, 3, 1, 1], [0.5, 0.25, 2])]);
    expect(inputScaling(m, 'x', 3)).toEqual({ scale: [2, 4, 0.5], offset: [0, 0, 0], nodes: ['v'] });
  });

  it('finds none where the first operator is not such a one, a constant is divided by the image, or the input feeds two nodes', () => {
    expect(inputScaling(graph([node('Conv', ['x', 'w'], 'y')], []), 'x', 3)).toBeNull();
    expect(inputScaling(graph([node('Div', ['one', 'x'], 'y')], [tensor('one', [], [1])]), 'x', 3)).toBeNull();
    expect(inputScaling(graph([node('Mul', ['x', 'two'], 'a'), node('Conv', ['x', 'w'], 'b')], [tensor('two', [], [2])]), 'x', 3)).toBeNull();
    // A constant over locations (not one per channel) is not a pixel scaling.
    expect(inputScaling(graph([node('Mul', ['x', 'map'], 'a')], [tensor('map', [1, 1, 2, 2], [1, 2, 3, 4])]), 'x', 3)).toBeNull();
  });

  it('reads the range whose span the scaling maps nearest 3: ×4.37 → 0–1, ×1/255 and ×1/127.5 → 0–255, ×2 → 0–1', () => {
    const range = (scale: number): string => pixelRangeOfScale([scale]);
    expect(range(1 / 0.229)).toBe('unit');
    expect(range(1 / 255)).toBe('raw');
    expect(range(1 / 127.5)).toBe('raw');
    expect(range(2)).toBe('unit');
    // The geometric middle of the two spans' distances: √(1/255) · 3 ≈ 0.188 is where they tie.
    expect(range(0.17)).toBe('raw');
    expect(range(0.2)).toBe('unit');
  });
});
