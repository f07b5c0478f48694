/**
 * Reading an ONNX file someone else wrote (PyTorch, tf2onnx, keras2onnx, CNTK…): the whole model
 * protobuf, initializers decoded to numbers, external data read from inside the model's folder.
 */
import path from 'node:path';
import { readInside, readRegularFile, UnsafeFileError } from '../../io/safe-read';
import { MAX_WEIGHT_BYTES } from '../guards';
import { ModelError } from '../errors';
import { halfToFloat } from '../hdf5';
import { ModelType } from './schema';

/** ONNX TensorProto.DataType values read here. */
export const OnnxType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10, DOUBLE: 11 } as const;

const TYPE_NAMES: Record<number, string> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string', 9: 'bool', 10: 'float16', 11: 'float64', 16: 'bfloat16',
};

/** Name of an ONNX element type, e.g. 1 → float32. */
export function typeName(t: number): string {
  return TYPE_NAMES[t] ?? `type ${t}`;
}

/** A constant tensor: values as numbers (int64 beyond 2^53 lose precision, as shapes never reach it). */
export interface OnnxTensor {
  name: string;
  dims: number[];
  dataType: number;
  /** Row-major values; float tensors as float32. */
  values: Float32Array | number[];
}

export interface OnnxAttribute {
  name: string;
  f?: number;
  i?: number;
  s?: string;
  t?: OnnxTensor;
  floats?: number[];
  ints?: number[];
  /** True when the attribute holds a subgraph (If/Loop/Scan bodies). */
  graph?: boolean;
}

export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  input: string[];
  output: string[];
  attribute: Map<string, OnnxAttribute>;
}

/** A graph input or output: element type and dims (a number, a symbolic name, or null). */
export interface OnnxValue {
  name: string;
  elemType: number;
  dims: (number | string | null)[] | null;
}

export interface OnnxModelFile {
  file: string;
  producer: string;
  /** Default-domain opset. */
  opset: number;
  nodes: OnnxNode[];
  initializers: Map<string, OnnxTensor>;
  inputs: OnnxValue[];
  outputs: OnnxValue[];
  metadata: Record<string, string>;
  /** True when some initializers were read from external data files. */
  externalData: boolean;
}


interface RawTensor {
  name?: string;
  dims?: number[];
  dataType?: number;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: number[];
  doubleData?: number[];
  rawData?: Uint8Array;
  externalData?: { key: string; value: string }[];
  dataLocation?: number;
}

interface RawAttribute { name: string; f?: number; i?: number; s?: Uint8Array; t?: RawTensor; g?: unknown; graphs?: unknown[]; floats?: number[]; ints?: number[] }
interface RawNode { name?: string; opType?: string; domain?: string; input?: string[]; output?: string[]; attribute?: RawAttribute[] }
interface RawValue { name: string; type?: { tensorType?: { elemType?: number; shape?: { dim?: { dimValue?: number; dimParam?: string }[] } } } }
interface RawModel {
  producerName?: string;
  producerVersion?: string;
  opsetImport?: { domain?: string; version?: number }[];
  metadataProps?: { key: string; value: string }[];
  graph?: { node?: RawNode[]; initializer?: RawTensor[]; input?: RawValue[]; output?: RawValue[] };
}

/** Largest ONNX file read (the protobuf format itself stops at 2 GiB). */
export const MAX_ONNX_BYTES = 2 * 2 ** 30;

function elementCount(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}


const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Decodes little-endian raw bytes of a tensor. */
function fromRaw(raw: Uint8Array, dataType: number, count: number, where: () => string): Float32Array | number[] {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const size: Record<number, number> = { 1: 4, 2: 1, 3: 1, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8 };
  const bytes = size[dataType];
  if (bytes === undefined) throw new Error(`${where()} holds ${typeName(dataType)} values, which Convmap does not read`);
  if (raw.byteLength !== count * bytes) throw new Error(`${where()} holds ${raw.byteLength} bytes for ${count} ${typeName(dataType)} values`);
  switch (dataType) {
    case OnnxType.FLOAT: {
      // One copy of the bytes (ONNX stores little-endian, as every platform Convmap runs on does), not a read per element.
      if (LITTLE_ENDIAN) return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    }
    case OnnxType.DOUBLE: {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    }
    case OnnxType.FLOAT16: {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      return out;
    }
    case OnnxType.INT64:
      return Array.from({ length: count }, (_, i) => Number(view.getBigInt64(i * 8, true)));
    case OnnxType.INT32:
      return Array.from({ length: count }, (_, i) => view.getInt32(i * 4, true));
    case OnnxType.INT8:
      return Array.from({ length: count }, (_, i) => view.getInt8(i));
    default:
      return Array.from(raw.subarray(0, count));
  }
}

function isFloatType(t: number): boolean {
  return t === OnnxType.FLOAT || t === OnnxType.DOUBLE || t === OnnxType.FLOAT16;
}

/** Reads external data files of a model, each once, checked and capped. */
class ExternalData {
  private readonly files = new Map<string, Buffer>();
  private left = MAX_WEIGHT_BYTES;

  constructor(private readonly file: string) {}

  async read(location: string, offset: number, length: number | undefined): Promise<Uint8Array> {
    const dir = path.dirname(this.file);
    let bytes = this.files.get(location);
    if (bytes === undefined) {
      try {
        // Opened first, then checked on its descriptor: inside the model's folder, regular, capped.
        bytes = (await readInside(dir, location, { maxBytes: this.left, capName: 'the weight limit' })).bytes;
      } catch (e) {
        throw new ModelError(this.file, `external data "${location}" ${e instanceof UnsafeFileError ? e.detail : String(e)}`);
      }
      this.left -= bytes.byteLength;
      this.files.set(location, bytes);
    }
    const end = length === undefined ? bytes.byteLength : offset + length;
    if (!(offset >= 0 && end <= bytes.byteLength && end >= offset)) {
      throw new ModelError(this.file, `external data "${location}" holds ${bytes.byteLength} bytes; a tensor asks for bytes ${offset}–${end}`);
    }
    return bytes.subarray(offset, end);
  }
}

async function tensorOf(t: RawTensor, file: string, ext: ExternalData): Promise<OnnxTensor> {
  const name = t.name ?? '';
  const dims = (t.dims ?? []).map(Number);
  const dataType = t.dataType ?? 0;
  const count = elementCount(dims);
  const where = (): string => `initializer "${name}"`;
  if (!dims.every((d) => Number.isInteger(d) && d >= 0) || count > MAX_WEIGHT_BYTES) throw new ModelError(file, `${where()} has invalid dims [${dims.join(', ')}]`);
  try {
    if (t.dataLocation === 1) {
      const entries = new Map((t.externalData ?? []).map((e) => [e.key, e.value]));
      const location = entries.get('location');
      if (location === undefined) throw new Error(`${where()} is stored externally without a location`);
      const raw = await ext.read(location, Number(entries.get('offset') ?? 0), entries.has('length') ? Number(entries.get('length')) : undefined);
      return { name, dims, dataType, values: fromRaw(raw, dataType, count, where) };
    }
    if (t.rawData !== undefined && t.rawData.byteLength > 0) return { name, dims, dataType, values: fromRaw(t.rawData, dataType, count, where) };
    const list = isFloatType(dataType) ? (dataType === OnnxType.DOUBLE ? t.doubleData : t.floatData) : dataType === OnnxType.INT64 ? t.int64Data : t.int32Data;
    const values = (list ?? []).map(Number);
    if (values.length !== count) throw new Error(`${where()} holds ${values.length} values for dims [${dims.join(', ')}]`);
    return { name, dims, dataType, values: isFloatType(dataType) ? Float32Array.from(values) : values };
  } catch (e) {
    if (e instanceof ModelError) throw e;
    throw new ModelError(file, (e as Error).message);
  }
}

function valueOf(v: RawValue): OnnxValue {
  const tt = v.type?.tensorType;
  const dims = tt?.shape ? (tt.shape.dim ?? []).map((d) => (d.dimParam ? d.dimParam : d.dimValue !== undefined ? Number(d.dimValue) : null)) : null;
  return { name: v.name, elemType: tt?.elemType ?? 0, dims };
}

/**
 * Parses ONNX bytes. Subgraphs (If/Loop bodies) are noted, not read.
 * @param file the model's path: named in errors, and the folder external data is read from
 * @throws ModelError when the bytes are not an ONNX model or a tensor cannot be read
 */
export async function parseOnnx(bytes: Uint8Array, file: string): Promise<OnnxModelFile> {
  let raw: RawModel;
  try {
    raw = ModelType.toObject(ModelType.decode(bytes), { longs: Number, bytes: Uint8Array, defaults: false, arrays: true }) as RawModel;
  } catch (e) {
    throw new ModelError(file, `is not an ONNX model (the protobuf does not parse: ${(e as Error).message.split('\n')[0]})`);
  }
  const g = raw.graph;
  if (!g || (g.node ?? []).length === 0) throw new ModelError(file, 'is not an ONNX model (it holds no graph nodes)');
  const ext = new ExternalData(file);
  const initializers = new Map<string, OnnxTensor>();
  let externalData = false;
  for (const t of g.initializer ?? []) {
    externalData ||= t.dataLocation === 1;
    const tensor = await tensorOf(t, file, ext);
    initializers.set(tensor.name, tensor);
  }
  const nodes: OnnxNode[] = [];
  for (const [k, n] of (g.node ?? []).entries()) {
    const attribute = new Map<string, OnnxAttribute>();
    for (const a of n.attribute ?? []) {
      attribute.set(a.name, {
        name: a.name,
        ...(a.f !== undefined ? { f: a.f } : {}),
        ...(a.i !== undefined ? { i: Number(a.i) } : {}),
        ...(a.s !== undefined ? { s: new TextDecoder().decode(a.s) } : {}),
        ...(a.t !== undefined ? { t: await tensorOf(a.t, file, ext) } : {}),
        ...(a.floats?.length ? { floats: a.floats } : {}),
        ...(a.ints?.length ? { ints: a.ints.map(Number) } : {}),
        ...(a.g !== undefined || (a.graphs?.length ?? 0) > 0 ? { graph: true } : {}),
      });
    }
    nodes.push({ name: n.name || `${n.opType ?? 'node'}_${k}`, opType: n.opType ?? '', domain: n.domain ?? '', input: n.input ?? [], output: n.output ?? [], attribute });
  }
  const opset = (raw.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx')?.version;
  return {
    file,
    producer: `${raw.producerName ?? ''} ${raw.producerVersion ?? ''}`.trim(),
    opset: opset === undefined ? 1 : Number(opset),
    nodes,
    initializers,
    inputs: (g.input ?? []).map(valueOf),
    outputs: (g.output ?? []).map(valueOf),
    metadata: Object.fromEntries((raw.metadataProps ?? []).map((e) => [e.key, e.value])),
    externalData,
  };
}

/**
 * Reads an ONNX file (at most {@link MAX_ONNX_BYTES}) and its external data.
 * @returns the parsed model and the file's bytes (for ONNX Runtime's run of the original)
 */
export async function readOnnxFile(file: string): Promise<{ model: OnnxModelFile; bytes: Buffer }> {
  let bytes: Buffer;
  try {
    bytes = await readRegularFile(file, { maxBytes: MAX_ONNX_BYTES, capName: 'the ONNX file limit' });
  } catch (e) {
    throw new ModelError(file, e instanceof UnsafeFileError ? e.detail : String(e));
  }
  return { model: await parseOnnx(bytes, file), bytes };
}
