/**
 * Stride accounting of a layer graph, the one place it is done: how far apart in input pixels the
 * positions of every tensor are. The conversion reads the network's stride from it, and the à trous
 * rewrite (atrous.ts) where each layer's input and output sit.
 */
import { pair } from '../model/layer-config';
import type { FlatGraph, FlatNode } from './graph';

type Pair = [number, number];

/** Layers whose `strides` move their window (the others see the map at their input's spacing). */
export const CONVS: ReadonlySet<string> = new Set(['Conv2D', 'DepthwiseConv2D', 'SeparableConv2D']);
export const POOLS: ReadonlySet<string> = new Set(['MaxPooling2D', 'AveragePooling2D']);

/**
 * A layer's own stride [sy, sx]: a convolution's `strides`; a pooling's, or its pool size when it has none (as tfjs);
 * an UpSampling2D's 1 / size (its positions are that much closer than its input's); else 1×1.
 */
export function ownStride(node: FlatNode): Pair {
  const cfg = node.layer.getConfig() as Record<string, unknown>;
  if (node.className === 'UpSampling2D') {
    const [fy, fx] = pair(cfg.size, 2);
    return [1 / fy, 1 / fx];
  }
  if (POOLS.has(node.className)) return cfg.strides == null ? pair(cfg.poolSize, 1) : pair(cfg.strides, 1);
  if (CONVS.has(node.className)) return pair(cfg.strides, 1);
  return [1, 1];
}

/**
 * Cumulative stride [sy, sx] of every tensor of the graph, by tensor id: its first input's times the
 * layer's own (inputs at 1×1). Layers merging several inputs take the first's (they merge equal-sized maps).
 * @param strideOf a layer's own stride; default {@link ownStride} (the conversion runs a pool acting as the global pool at 1×1)
 */
export function cumulativeStrides(graph: FlatGraph, strideOf: (node: FlatNode) => Pair = ownStride): Map<number, Pair> {
  const strides = new Map<number, Pair>(graph.inputs.map((i) => [i, [1, 1] as Pair]));
  for (const node of graph.nodes) {
    const p = node.inputs.map((i) => strides.get(i)).find((s) => s !== undefined) ?? [1, 1];
    const t = strideOf(node);
    node.outputs.forEach((o) => strides.set(o, [p[0] * t[0], p[1] * t[1]]));
  }
  return strides;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** The smallest multiple of the whole number `p` that is a whole multiple of `s` (a stride, a fraction after an upsampling); Infinity when none is near. */
function commonMultiple(p: number, s: number): number {
  for (let k = 1; k <= 4096; k++) {
    const q = (k * p) / s;
    if (Math.abs(q - Math.round(q)) < 1e-9 * Math.max(1, q)) return k * p;
  }
  return Infinity;
}

/**
 * The smallest input shift [py, px] (whole pixels) that moves `tensor`'s map by whole positions and
 * every map before it too: the least common multiple of 1 and the cumulative stride after each layer
 * that makes positions farther apart. It is the stride itself, except after an UpSampling2D: a
 * stride-2 layer then ×2 upsampling puts positions 1 px apart, but only a 2 px shift of the input
 * shifts the strided layer's map, so only every second position is a crop's.
 * @param strides {@link cumulativeStrides} of the same graph
 */
export function cellSpacing(graph: FlatGraph, strides: Map<number, Pair>, tensor: number): Pair {
  const spacing = new Map<number, Pair>(graph.inputs.map((i) => [i, [1, 1] as Pair]));
  for (const node of graph.nodes) {
    const ins = node.inputs.map((i) => spacing.get(i)).filter((p): p is Pair => p !== undefined);
    const p: Pair = ins.length === 0 ? [1, 1] : [0, 1].map((a) => ins.reduce((m, q) => (Number.isFinite(m) && Number.isFinite(q[a]) ? (m * q[a]) / gcd(m, q[a]) : Infinity), 1)) as Pair;
    const before = node.inputs.map((i) => strides.get(i)).find((s) => s !== undefined) ?? [1, 1];
    for (const o of node.outputs) {
      const after = strides.get(o) ?? before;
      spacing.set(o, [0, 1].map((a) => (after[a] > before[a] ? commonMultiple(p[a], after[a]) : p[a])) as Pair);
    }
  }
  return spacing.get(tensor) ?? [1, 1];
}
