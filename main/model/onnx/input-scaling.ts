/**
 * What an ONNX graph does to its input before anything else: a chain of Add, Sub, Mul and Div by
 * constants (a scalar or one value per channel), through Cast, Identity and Transpose. A graph that
 * normalises its own input (`(x − mean) / std` exported with the model, `x / 255`) tells by these
 * constants which range of pixel values it was given: the preprocessing guess reads them.
 */
import type { OnnxModelFile, OnnxNode, OnnxTensor } from './read';

/** y = scale · x + offset per channel (one entry: every channel), applied to the graph's input. */
export interface InputScaling {
  scale: number[];
  offset: number[];
  /** The nodes that make it, in order. */
  nodes: string[];
}

const PASS = new Set(['Cast', 'Identity', 'Transpose']);
const AFFINE = new Set(['Add', 'Sub', 'Mul', 'Div']);
/** Operators that keep a tensor the image, read as it is: passed through, or scaled by constants. */
export const IMAGE_CHAIN_OPS: ReadonlySet<string> = new Set([...PASS, ...AFFINE]);

/** The constant's values when `name` is an initializer or a Constant node's output with one value or one per channel. */
function constantValues(m: OnnxModelFile, constants: Map<string, OnnxTensor>, name: string, channels: number): number[] | undefined {
  const t = m.initializers.get(name) ?? constants.get(name);
  if (!t) return undefined;
  const n = t.values.length;
  if (n !== 1 && n !== channels) return undefined;
  // One value per channel must lie along one axis (e.g. [1, 3, 1, 1] or [3]).
  if (n > 1 && t.dims.filter((d) => d !== 1).length !== 1) return undefined;
  return Array.from(t.values, Number);
}

/**
 * The affine map a graph applies to its input `input` before any other operator, or null when its
 * first operator is not one of Add, Sub, Mul, Div by a constant. A tensor read by more than one node
 * ends the chain.
 * @param channels the input's channels (a per-channel constant has that many values).
 */
export function inputScaling(m: OnnxModelFile, input: string, channels: number): InputScaling | null {
  const consumers = new Map<string, OnnxNode[]>();
  const constants = new Map<string, OnnxTensor>();
  for (const node of m.nodes) {
    for (const i of node.input) consumers.set(i, [...(consumers.get(i) ?? []), node]);
    const value = node.opType === 'Constant' ? node.attribute.get('value')?.t : undefined;
    if (value) constants.set(node.output[0], value);
  }
  let scale = [1];
  let offset = [0];
  const nodes: string[] = [];
  const widen = (v: number[], n: number): number[] => (v.length === n ? v : Array.from({ length: n }, () => v[0]));
  let tensor = input;
  for (let steps = 0; steps < 16; steps++) {
    const next = consumers.get(tensor) ?? [];
    if (next.length !== 1) break;
    const node = next[0];
    if (PASS.has(node.opType)) {
      tensor = node.output[0];
      continue;
    }
    if (!AFFINE.has(node.opType)) break;
    const otherIndex = node.input[0] === tensor ? 1 : 0;
    const k = constantValues(m, constants, node.input[otherIndex], channels);
    if (!k || k.some((v) => !Number.isFinite(v))) break;
    const n = Math.max(scale.length, k.length);
    const [s, o, c] = [widen(scale, n), widen(offset, n), widen(k, n)];
    if (node.opType === 'Add') offset = o.map((v, i) => v + c[i]);
    else if (node.opType === 'Sub' && otherIndex === 1) offset = o.map((v, i) => v - c[i]);
    else if (node.opType === 'Sub') {
      scale = s.map((v) => -v);
      offset = o.map((v, i) => c[i] - v);
    } else if (node.opType === 'Mul') {
      scale = s.map((v, i) => v * c[i]);
      offset = o.map((v, i) => v * c[i]);
    } else {
      // A constant divided by the image is not a scaling of it.
      if (otherIndex === 0 || c.some((v) => v === 0)) break;
      scale = s.map((v, i) => v / c[i]);
      offset = o.map((v, i) => v / c[i]);
    }
    scale = widen(scale, n);
    offset = widen(offset, n);
    nodes.push(node.name || node.opType);
    tensor = node.output[0];
  }
  return nodes.length > 0 ? { scale, offset, nodes } : null;
}
