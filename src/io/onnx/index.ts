/** ONNX import and export: `loadOnnx` (a model as a Module), the operator table, TensorProto decoding. */
export { decodeModel, loadOnnx, OnnxModule, UnsupportedOperatorError, type LoadOnnxOpts } from "./model.ts";
export { OPS as onnxOps } from "./ops.ts";
export { ModelProto, TensorProtoType, root as onnxSchema } from "./schema.ts";
export { OnnxError, tensorFromProto, tensorProtoValues } from "./tensor-proto.ts";
export { exportOnnx, saveOnnx, type SaveOnnxOpts } from "./export.ts";
