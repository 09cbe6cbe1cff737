/**
 * The subset of ONNX's protobuf schema (onnx.proto, IR version 8) that the importer reads, as a
 * protobufjs JSON descriptor: field numbers and types are the file format's; names are camelCase.
 * Written by hand so that nothing is fetched or parsed at run time.
 */
import protobuf from "protobufjs/light.js";

const f = (type: string, id: number, repeated = false) => (repeated ? { rule: "repeated", type, id } : { type, id });

const DESCRIPTOR = {
  nested: {
    onnx: {
      nested: {
        AttributeProto: {
          fields: {
            name: f("string", 1), refAttrName: f("string", 21), docString: f("string", 13), type: f("int32", 20),
            f: f("float", 2), i: f("int64", 3), s: f("bytes", 4), t: f("TensorProto", 5), g: f("GraphProto", 6),
            sparseTensor: f("SparseTensorProto", 22), tp: f("TypeProto", 14),
            floats: f("float", 7, true), ints: f("int64", 8, true), strings: f("bytes", 9, true),
            tensors: f("TensorProto", 10, true), graphs: f("GraphProto", 11, true),
            sparseTensors: f("SparseTensorProto", 23, true), typeProtos: f("TypeProto", 15, true),
          },
        },
        ValueInfoProto: { fields: { name: f("string", 1), type: f("TypeProto", 2), docString: f("string", 3) } },
        NodeProto: {
          fields: {
            input: f("string", 1, true), output: f("string", 2, true), name: f("string", 3), opType: f("string", 4),
            domain: f("string", 7), attribute: f("AttributeProto", 5, true), docString: f("string", 6),
          },
        },
        StringStringEntryProto: { fields: { key: f("string", 1), value: f("string", 2) } },
        OperatorSetIdProto: { fields: { domain: f("string", 1), version: f("int64", 2) } },
        ModelProto: {
          fields: {
            irVersion: f("int64", 1), opsetImport: f("OperatorSetIdProto", 8, true), producerName: f("string", 2),
            producerVersion: f("string", 3), domain: f("string", 4), modelVersion: f("int64", 5), docString: f("string", 6),
            graph: f("GraphProto", 7), metadataProps: f("StringStringEntryProto", 14, true),
            functions: f("FunctionProto", 25, true),
          },
        },
        FunctionProto: {
          fields: {
            name: f("string", 1), input: f("string", 4, true), output: f("string", 5, true), attribute: f("string", 6, true),
            node: f("NodeProto", 7, true), docString: f("string", 8), opsetImport: f("OperatorSetIdProto", 9, true),
            domain: f("string", 10),
          },
        },
        GraphProto: {
          fields: {
            node: f("NodeProto", 1, true), name: f("string", 2), initializer: f("TensorProto", 5, true),
            sparseInitializer: f("SparseTensorProto", 15, true), docString: f("string", 10),
            input: f("ValueInfoProto", 11, true), output: f("ValueInfoProto", 12, true), valueInfo: f("ValueInfoProto", 13, true),
          },
        },
        TensorProto: {
          fields: {
            dims: f("int64", 1, true), dataType: f("int32", 2), floatData: f("float", 4, true), int32Data: f("int32", 5, true),
            stringData: f("bytes", 6, true), int64Data: f("int64", 7, true), name: f("string", 8), docString: f("string", 12),
            rawData: f("bytes", 9), externalData: f("StringStringEntryProto", 13, true), dataLocation: f("int32", 14),
            doubleData: f("double", 10, true), uint64Data: f("uint64", 11, true),
          },
        },
        SparseTensorProto: { fields: { values: f("TensorProto", 1), indices: f("TensorProto", 2), dims: f("int64", 3, true) } },
        TensorShapeProto: {
          fields: { dim: f("Dimension", 1, true) },
          nested: { Dimension: { fields: { dimValue: f("int64", 1), dimParam: f("string", 2), denotation: f("string", 3) } } },
        },
        TypeProto: {
          fields: {
            tensorType: f("TensorT", 1), sequenceType: f("SequenceT", 4), mapType: f("MapT", 5), optionalType: f("OptionalT", 9),
            sparseTensorType: f("TensorT", 8), denotation: f("string", 6),
          },
          nested: {
            TensorT: { fields: { elemType: f("int32", 1), shape: f("TensorShapeProto", 2) } },
            SequenceT: { fields: { elemType: f("TypeProto", 1) } },
            MapT: { fields: { keyType: f("int32", 1), valueType: f("TypeProto", 2) } },
            OptionalT: { fields: { elemType: f("TypeProto", 1) } },
          },
        },
      },
    },
  },
};

export const root = protobuf.Root.fromJSON(DESCRIPTOR);
export const ModelProto = root.lookupType("onnx.ModelProto");
export const TensorProtoType = root.lookupType("onnx.TensorProto");

/** int64 fields decode as Long objects (or numbers); this gives a JS number or throws when unsafe. */
export type Int64 = number | { toString(): string; low: number; high: number };

export interface OnnxTensorProto {
  dims: Int64[]; dataType: number; floatData: number[]; int32Data: number[]; stringData: Uint8Array[]; int64Data: Int64[];
  name: string; rawData: Uint8Array; externalData: { key: string; value: string }[]; dataLocation: number;
  doubleData: number[]; uint64Data: Int64[];
}
export interface OnnxAttribute {
  name: string; type: number; f: number; i: Int64; s: Uint8Array; t?: OnnxTensorProto | null; g?: OnnxGraph | null;
  floats: number[]; ints: Int64[]; strings: Uint8Array[]; tensors: OnnxTensorProto[]; graphs: OnnxGraph[];
}
export interface OnnxNode { input: string[]; output: string[]; name: string; opType: string; domain: string; attribute: OnnxAttribute[] }
export interface OnnxTypeProto { tensorType?: { elemType: number; shape?: { dim: { dimValue?: Int64; dimParam?: string }[] } } | null; sequenceType?: unknown; mapType?: unknown; optionalType?: unknown; sparseTensorType?: unknown }
export interface OnnxValueInfo { name: string; type?: OnnxTypeProto | null }
export interface OnnxGraph {
  node: OnnxNode[]; name: string; initializer: OnnxTensorProto[]; sparseInitializer: unknown[];
  input: OnnxValueInfo[]; output: OnnxValueInfo[]; valueInfo: OnnxValueInfo[];
}
export interface OnnxModelProto {
  irVersion: Int64; opsetImport: { domain: string; version: Int64 }[]; producerName: string; graph?: OnnxGraph | null;
  functions: unknown[];
}
