/**
 * ONNX models as Convmap writes them (IR version 8), encoded and decoded with the schema the reader
 * of other exporters' files uses (main/model/onnx/schema).
 */
import { GraphType, ModelType, TensorType } from '../model/onnx/schema';

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, UINT8: 2, INT32: 6, INT64: 7 } as const;

/** AttributeProto.AttributeType values used here. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

/** ONNX IR version written (8: readable by onnx ≥ 1.10 and every ONNX Runtime since 1.10). */
export const IR_VERSION = 8;
/** Default-domain opset written: 17 is the newest the onnx 1.12 checker knows, ORT 1.30 runs up to 23. */
export const OPSET = 17;

export interface TensorProto {
  name: string;
  dims: number[];
  dataType: number;
  /** Little-endian element bytes (empty while `deferred` stands for them). */
  rawData: Uint8Array;
  /**
   * Bytes made only as the model is encoded: `write` fills `out` (byteLength bytes). A big model's
   * kernels are then made one at a time straight into the file's bytes instead of all being held
   * beside them ({@link materialize} turns them into rawData).
   */
  deferred?: { byteLength: number; write: (out: Uint8Array) => void };
}

/** Makes every deferred initializer's bytes now (rawData), for a graph kept past the model it reads. */
export function materialize(initializers: TensorProto[]): void {
  for (const t of initializers) {
    if (t.deferred === undefined) continue;
    const bytes = new Uint8Array(t.deferred.byteLength);
    t.deferred.write(bytes);
    t.rawData = bytes;
    delete t.deferred;
  }
}

export interface AttributeProto {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  floats?: number[];
  ints?: number[];
}

export interface NodeProto {
  name: string;
  opType: string;
  input: string[];
  output: string[];
  attribute: AttributeProto[];
}

/** A dimension: a fixed size, a named free one, or null for an unnamed free one. */
export type Dim = number | string | null;

export interface ValueInfoProto {
  name: string;
  elemType: number;
  shape: Dim[];
}

export interface GraphProto {
  name: string;
  node: NodeProto[];
  initializer: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
}

export interface ModelProto {
  producerName: string;
  producerVersion: string;
  docString?: string;
  graph: GraphProto;
  /** Free-form key/value pairs (ONNX metadata_props). */
  metadata?: Record<string, string>;
}

function valueInfo(v: ValueInfoProto): Record<string, unknown> {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: v.elemType,
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : d === null ? {} : { dimParam: d })) },
      },
    },
  };
}


/** Protobuf wire tags (field number << 3 | 2, length-delimited) of the fields assembled by hand. */
const TAG = { modelGraph: (7 << 3) | 2, graphInitializer: (5 << 3) | 2, tensorRawData: (9 << 3) | 2 } as const;

function varintLength(n: number): number {
  let len = 1;
  for (let v = n; v >= 0x80; v = Math.floor(v / 0x80)) len++;
  return len;
}

function writeVarint(out: Uint8Array, at: number, n: number): number {
  let v = n;
  while (v >= 0x80) {
    out[at++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  out[at++] = v;
  return at;
}

/** One part of an encoded model: bytes as they are, or an initializer's raw data of `byteLength` bytes. */
type Part = Uint8Array | { tensor: TensorProto; byteLength: number };

/**
 * The encoded model's length and its parts in order. protobufjs encodes the small parts; the
 * initializers' raw data is left to the consumer. Protobuf readers accept fields in any order, so
 * the hand-placed fields are appended after the rest.
 */
function encodeParts(model: ModelProto, opts: { release?: boolean }): { total: number; parts: Generator<Part, void, undefined> } {
  const g = model.graph;
  const head = ModelType.encode(ModelType.fromObject({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: model.producerName,
    producerVersion: model.producerVersion,
    docString: model.docString ?? '',
    metadataProps: Object.entries(model.metadata ?? {}).map(([key, value]) => ({ key, value })),
  })).finish();
  const graphHead = GraphType.encode(GraphType.fromObject({
    name: g.name,
    node: g.node.map((n) => ({ ...n, domain: '' })),
    input: g.input.map(valueInfo),
    output: g.output.map(valueInfo),
  })).finish();
  const tensors = g.initializer.map((t) => {
    const header = TensorType.encode(TensorType.fromObject({ name: t.name, dims: t.dims, dataType: t.dataType })).finish();
    const raw = t.deferred?.byteLength ?? t.rawData.byteLength;
    const body = header.byteLength + 1 + varintLength(raw) + raw;
    return { t, header, raw, body };
  });
  const graphLength = graphHead.byteLength + tensors.reduce((n, x) => n + 1 + varintLength(x.body) + x.body, 0);
  const total = head.byteLength + 1 + varintLength(graphLength) + graphLength;
  if (total > 2 ** 31 - 1) throw new RangeError(`the ONNX model would take ${total} bytes; protobuf files stop at 2 GiB`);
  const tagged = (tag: number, length: number): Uint8Array => {
    const out = new Uint8Array(11);
    out[0] = tag;
    return out.subarray(0, writeVarint(out, 1, length));
  };
  function* parts(): Generator<Part, void, undefined> {
    yield head;
    yield tagged(TAG.modelGraph, graphLength);
    yield graphHead;
    for (const x of tensors) {
      yield tagged(TAG.graphInitializer, x.body);
      yield x.header;
      yield tagged(TAG.tensorRawData, x.raw);
      yield { tensor: x.t, byteLength: x.raw };
      if (opts.release) x.t.rawData = new Uint8Array(0);
    }
  }
  return { total, parts: parts() };
}

/**
 * Serialises a model to ONNX protobuf bytes (opset {@link OPSET}, IR {@link IR_VERSION}).
 *
 * protobufjs would copy every initializer's bytes into its writer and then again into the result;
 * for a VGG-sized model that is a gigabyte on top of the weights. So the small parts are encoded by
 * protobufjs and the initializers' raw data is copied once, straight into the result.
 * @param opts.release drop each initializer's rawData once copied, so it can be collected while the
 *   rest is written
 */
export function encodeModel(model: ModelProto, opts: { release?: boolean } = {}): Uint8Array {
  const { total, parts } = encodeParts(model, opts);
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    if (part instanceof Uint8Array) {
      out.set(part, at);
      at += part.byteLength;
      continue;
    }
    const { tensor, byteLength } = part;
    if (tensor.deferred) tensor.deferred.write(out.subarray(at, at + byteLength));
    else out.set(tensor.rawData, at);
    at += byteLength;
  }
  return out;
}

/**
 * The bytes {@link encodeModel} gives, as chunks in order (FileData for main/io/atomic, which writes
 * each chunk before it asks for the next): the whole file is never in memory (a VGG's is half a
 * gigabyte). Deferred initializers are made one after the other in one buffer of the largest one's
 * size (the exporter's kernel parts are at most 64 MiB): a chunk made there is valid until the next
 * is asked for, and no buffer per part is left to the garbage collector.
 */
export function* modelChunks(model: ModelProto, opts: { release?: boolean } = {}): Generator<Uint8Array, void, undefined> {
  const { parts } = encodeParts(model, opts);
  let scratch = new Uint8Array(0);
  for (const part of parts) {
    if (part instanceof Uint8Array) {
      yield part;
    } else if (part.tensor.deferred) {
      if (scratch.byteLength < part.byteLength) scratch = new Uint8Array(part.byteLength);
      const bytes = scratch.subarray(0, part.byteLength);
      part.tensor.deferred.write(bytes);
      yield bytes;
    } else {
      yield part.tensor.rawData;
    }
  }
}

/**
 * Parses ONNX bytes written by {@link encodeModel} back into the plain shapes above (the fields this
 * schema knows; int64 values as numbers).
 */
export function decodeModel(bytes: Uint8Array): ModelProto {
  const obj = ModelType.toObject(ModelType.decode(bytes), { longs: Number, bytes: Uint8Array, defaults: false, arrays: true }) as {
    producerName: string; producerVersion: string; docString: string;
    metadataProps: { key: string; value: string }[];
    graph: {
      name: string;
      node: NodeProto[];
      initializer: TensorProto[];
      input: { name: string; type: { tensorType: { elemType: number; shape?: { dim: { dimValue?: number; dimParam?: string }[] } } } }[];
      output: { name: string; type: { tensorType: { elemType: number; shape?: { dim: { dimValue?: number; dimParam?: string }[] } } } }[];
    };
  };
  const info = (v: (typeof obj.graph.input)[number]): ValueInfoProto => ({
    name: v.name,
    elemType: v.type.tensorType.elemType,
    shape: (v.type.tensorType.shape?.dim ?? []).map((d) => (d.dimParam !== undefined && d.dimParam !== '' ? d.dimParam : d.dimValue !== undefined ? Number(d.dimValue) : null)),
  });
  return {
    producerName: obj.producerName ?? '',
    producerVersion: obj.producerVersion ?? '',
    docString: obj.docString ?? '',
    metadata: Object.fromEntries(obj.metadataProps.map((e) => [e.key, e.value])),
    graph: {
      name: obj.graph.name ?? '',
      node: obj.graph.node.map((n) => ({ name: n.name ?? '', opType: n.opType, input: n.input, output: n.output, attribute: n.attribute })),
      initializer: obj.graph.initializer,
      input: obj.graph.input.map(info),
      output: obj.graph.output.map(info),
    },
  };
}
