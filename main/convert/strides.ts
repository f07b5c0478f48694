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

/** A layer's own stride [sy, sx]: a convolution's `strides`; a pooling's, or its pool size when it has none (as tfjs); else 1×1. */
export function ownStride(node: FlatNode): Pair {
  const cfg = node.layer.getConfig() as Record<string, unknown>;
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
