/** How much memory a forward pass of a fully convolutional model needs per input pixel. */
import os from 'node:os';
import type * as tf from '@tensorflow/tfjs';
import { flattenModel } from '../convert/graph';

/** Default memory for one tile's activations: an eighth of the machine's memory, at most 1 GiB. */
export function defaultMemoryBudget(): number {
  return Math.min(os.totalmem() / 8, 1024 ** 3);
}

/**
 * Bytes of activations per input pixel at the peak of one forward pass, estimated from the layer
 * shapes at a probe size: the largest input + output of a layer, 4 bytes a value, with half again
 * as a margin. ONNX Runtime's planner reuses buffers between layers (its arena is off, see
 * createSession), and its convolutions expand im2col in bounded per-thread segments, so the peak is
 * about one layer's tensors: VGG16 at 1.4 MP peaked at 0.73 GB over its weights, 0.68 GB estimated
 * before the margin.
 */
export function activationBytesPerPixel(fcn: tf.LayersModel, window: [number, number]): number {
  const graph = flattenModel(fcn);
  const probe: [number, number] = [window[0] * 3, window[1] * 3];
  const shapes = new Map<number, number[]>();
  const inShape = graph.shapes[graph.inputs[0]];
  shapes.set(graph.inputs[0], [1, probe[0], probe[1], Number(inShape[3])]);
  const size = (s: number[]): number => s.reduce((a, b) => a * Math.max(b, 1), 1);
  let peak = 0;
  for (const node of graph.nodes) {
    const ins = node.inputs.map((i) => shapes.get(i) ?? [1, 1, 1, 1]);
    let out: number[];
    try {
      const o = node.layer.computeOutputShape(ins.length === 1 ? ins[0] : ins) as number[] | number[][];
      out = (Array.isArray(o[0]) ? o[0] : o) as number[];
    } catch {
      out = ins[0];
    }
    node.outputs.forEach((id) => shapes.set(id, out));
    peak = Math.max(peak, ins.reduce((n, s) => n + size(s), 0) + size(out));
  }
  return (peak * 4 * 1.5) / (probe[0] * probe[1]);
}
