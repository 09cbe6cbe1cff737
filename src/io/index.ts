/**
 * Files: safetensors (the native format for weights and checkpoints) and atomic writes.
 */
export {
  deserialize, deserializeWithMetadata, fileDTypeBytes, loadFile, loadFileWithMetadata, MAX_HEADER_BYTES, parseHeader,
  parseHeaderJson, readHeader, SafetensorsError, saveFile, serialize, strataDType,
  type LoadOpts, type SafetensorsDType, type SafetensorsHeader, type TensorInfo,
} from "./safetensors.ts";
export { atomicWriteFile, syncDir } from "./atomic.ts";
export {
  decodeModel, loadOnnx, ModelProto as OnnxModelProto, OnnxError, OnnxModule, onnxOps, onnxSchema, tensorFromProto,
  TensorProtoType as OnnxTensorProto, UnsupportedOperatorError, type LoadOnnxOpts,
  exportOnnx, saveOnnx, type SaveOnnxOpts,
} from "./onnx/index.ts";
