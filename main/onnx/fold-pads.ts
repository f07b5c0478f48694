/**
 * Zero padding folded into the window ops that read it. A classifier rebuilt from ONNX or Keras pads
 * with a ZeroPadding2D layer where its padding is not TensorFlow's `same` (PyTorch's symmetric pads on
 * a strided conv, its max pool's pad): written as it is, each is a Pad node copying the whole map
 * before the Conv; ONNX's Conv and MaxPool take the pads themselves, as PyTorch's own export writes them.
 */
import { AttributeType, DataType, type NodeProto, type TensorProto } from './proto';

/** [top, left, bottom, right] of a Pad node that pads only height and width with zeros, else undefined. */
function spatialZeroPads(pad: NodeProto, initializers: Map<string, TensorProto>): number[] | undefined {
  const mode = pad.attribute.find((a) => a.name === 'mode')?.s;
  if (mode !== undefined && new TextDecoder().decode(mode) !== 'constant') return undefined;
  if (pad.input.length > 2 && pad.input[2] !== '') return undefined;
  const t = initializers.get(pad.input[1]);
  if (!t || t.dataType !== DataType.INT64 || t.rawData.byteLength !== 64) return undefined;
  const v = new DataView(t.rawData.buffer, t.rawData.byteOffset, 64);
  const p = Array.from({ length: 8 }, (_, i) => Number(v.getBigInt64(i * 8, true)));
  if (p[0] !== 0 || p[1] !== 0 || p[4] !== 0 || p[5] !== 0 || p.some((x) => x < 0)) return undefined;
  return [p[2], p[3], p[6], p[7]];
}

/**
 * Removes each zero Pad of height and width whose every reader is a Conv, or a MaxPool whose input is a
 * Relu's (padding non-negative values with zeros takes the same maxima as ONNX's pads, which are
 * never chosen), adding its pads to the reader's `pads`. Nodes and initializers are edited in place.
 */
export function foldPads(nodes: NodeProto[], initializers: TensorProto[]): void {
  const readers = new Map<string, NodeProto[]>();
  for (const n of nodes) for (const i of n.input) readers.set(i, [...(readers.get(i) ?? []), n]);
  const producer = new Map(nodes.flatMap((n) => n.output.map((o) => [o, n] as const)));
  const byName = new Map(initializers.map((t) => [t.name, t]));
  const folded = new Set<NodeProto>();
  for (const pad of nodes) {
    if (pad.opType !== 'Pad') continue;
    const p = spatialZeroPads(pad, byName);
    const users = readers.get(pad.output[0]) ?? [];
    if (!p || users.length === 0) continue;
    const nonNeg = producer.get(pad.input[0])?.opType === 'Relu';
    const foldable = (u: NodeProto): boolean => {
      if (u.input[0] !== pad.output[0] || u.input.slice(1).includes(pad.output[0])) return false;
      if (u.attribute.some((a) => a.name === 'auto_pad')) return false;
      if (u.opType === 'Conv') return true;
      // A window all padding would give 0 where ONNX's pads give nothing: pads stay below the kernel.
      const k = u.attribute.find((a) => a.name === 'kernel_shape')?.ints ?? [];
      return u.opType === 'MaxPool' && nonNeg && k.length === 2 && p[0] < k[0] && p[2] < k[0] && p[1] < k[1] && p[3] < k[1];
    };
    if (!users.every(foldable)) {
      // ONNX Runtime (1.17+, PadFusion) folds a zero Pad into the MaxPool that reads it at session
      // start, whose pads never win: signed values would lose the zeros a crop sees. It leaves a
      // MaxPool that also writes its argmax Indices (an optional output nothing reads) as it is.
      for (const u of users) if (u.opType === 'MaxPool' && u.output.length === 1) u.output.push(`${u.output[0]}/indices`);
      continue;
    }
    for (const u of users) {
      const pads = u.attribute.find((a) => a.name === 'pads');
      const [t, l, b, r] = pads?.ints ?? [0, 0, 0, 0];
      const sum = [t + p[0], l + p[1], b + p[2], r + p[3]];
      if (pads) pads.ints = sum;
      else u.attribute.push({ name: 'pads', type: AttributeType.INTS, ints: sum });
      u.input[0] = pad.input[0];
    }
    folded.add(pad);
  }
  if (folded.size === 0) return;
  const kept = nodes.filter((n) => !folded.has(n));
  nodes.splice(0, nodes.length, ...kept);
  const used = new Set(kept.flatMap((n) => n.input));
  const live = initializers.filter((t) => used.has(t.name));
  initializers.splice(0, initializers.length, ...live);
}
