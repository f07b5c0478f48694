/**
 * The part of ONNX's protobuf schema (onnx/onnx.proto, IR version 8) that Convmap writes and reads,
 * as a protobufjs descriptor: field numbers are ONNX's, so any ONNX reader opens the bytes.
 */
import * as protobuf from 'protobufjs/light.js';

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
  /** Little-endian element bytes. */
  rawData: Uint8Array;
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

const schema = {
  nested: {
    onnx: {
      nested: {
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            type: { type: 'int32', id: 20 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            floats: { rule: 'repeated', type: 'float', id: 7 },
            ints: { rule: 'repeated', type: 'int64', id: 8 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            domain: { type: 'string', id: 7 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1 },
            dataType: { type: 'int32', id: 2 },
            name: { type: 'string', id: 8 },
            rawData: { type: 'bytes', id: 9 },
          },
        },
        TensorShapeProto: {
          fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } },
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ['dimValue', 'dimParam'] } },
              fields: { dimValue: { type: 'int64', id: 1 }, dimParam: { type: 'string', id: 2 } },
            },
          },
        },
        TypeProto: {
          fields: { tensorType: { type: 'Tensor', id: 1 } },
          nested: {
            Tensor: { fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } } },
          },
        },
        ValueInfoProto: { fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 } } },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
          },
        },
        OperatorSetIdProto: { fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } } },
        StringStringEntryProto: { fields: { key: { type: 'string', id: 1 }, value: { type: 'string', id: 2 } } },
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
            producerName: { type: 'string', id: 2 },
            producerVersion: { type: 'string', id: 3 },
            docString: { type: 'string', id: 6 },
            graph: { type: 'GraphProto', id: 7 },
            metadataProps: { rule: 'repeated', type: 'StringStringEntryProto', id: 14 },
          },
        },
      },
    },
  },
};

const root = protobuf.Root.fromJSON(schema);
const ModelType = root.lookupType('onnx.ModelProto');

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

/** Serialises a model to ONNX protobuf bytes (opset {@link OPSET}, IR {@link IR_VERSION}). */
export function encodeModel(model: ModelProto): Uint8Array {
  const g = model.graph;
  const message = ModelType.fromObject({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: model.producerName,
    producerVersion: model.producerVersion,
    docString: model.docString ?? '',
    metadataProps: Object.entries(model.metadata ?? {}).map(([key, value]) => ({ key, value })),
    graph: {
      name: g.name,
      node: g.node.map((n) => ({ ...n, domain: '' })),
      initializer: g.initializer,
      input: g.input.map(valueInfo),
      output: g.output.map(valueInfo),
    },
  });
  return ModelType.encode(message).finish();
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
