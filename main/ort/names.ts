/** Name of the exported graph's input (NHWC float32) and output (NHWC float32); a module of its own so that running a session does not load tfjs. */
export const ONNX_INPUT = 'image';
export const ONNX_OUTPUT = 'scores';
