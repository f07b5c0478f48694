/** How much memory a forward pass of a fully convolutional model needs per input pixel. */
import os from 'node:os';
import type * as tf from '@tensorflow/tfjs';
import { flattenModel } from '../convert/graph';

/** Default memory for one tile's activations: a quarter of the machine's memory, at most 2 GiB. */
export function defaultMemoryBudget(): number {
  return Math.min(os.totalmem() / 4, 2 * 1024 ** 3);
}

/**
 * Bytes of activations per input pixel at the peak of one forward pass, estimated from the layer
 * shapes at a probe size: the largest (input + output + im2col buffer of a k×k convolution) over
 * the layers, 4 bytes a value. ONNX Runtime reuses buffers between layers, so the peak is one layer's.
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
    const cfg = node.layer.getConfig() as { kernelSize?: number | number[] };
    const k = Array.isArray(cfg.kernelSize) ? cfg.kernelSize[0] * (cfg.kernelSize[1] ?? cfg.kernelSize[0]) : (cfg.kernelSize ?? 1);
    const cin = ins[0][ins[0].length - 1] ?? 1;
    const im2col = k > 1 && node.className === 'Conv2D' ? k * cin * size(out.slice(0, -1)) : 0;
    peak = Math.max(peak, ins.reduce((n, s) => n + size(s), 0) + size(out) + im2col);
  }
  return (peak * 4) / (probe[0] * probe[1]);
}
