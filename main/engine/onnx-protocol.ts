/** Messages between the ONNX Runtime engine and its thread (./onnx-worker). Buffers are transferred. */
import type { io } from '@tensorflow/tfjs';
import type { PreprocessMode } from '../../core/model-info';
import type { DeviceName, DeviceRequest } from '../onnx/runtime';
import type { PixelRegion } from './preprocess';

export interface OnnxWorkerInit {
  device: DeviceRequest | DeviceName;
  threads: number;
  /** A tiny model whose session tells which execution provider loads. */
  probe: Uint8Array;
  gpuProviders?: readonly string[];
}

/** Engine → thread. Every message with a jobId gets exactly one reply carrying it. */
export type ToOnnxWorker =
  /** Export the tfjs FCN to ONNX and open its session. */
  | { type: 'load'; jobId: number; modelId: string; artifacts: io.ModelArtifacts; window: [number, number] }
  | { type: 'release'; modelId: string }
  /** One tile: RGB pixels [height, width, 3] and the region of them to feed the model (see preprocessRegion). */
  | { type: 'run'; jobId: number; modelId: string; data: Uint8Array; height: number; width: number; region: PixelRegion; preprocess: PreprocessMode; channels: 1 | 3 }
  /** Live sessions; replies `sessions`. */
  | { type: 'sessions'; jobId: number };

/** Thread → engine. */
export type FromOnnxWorker =
  | { type: 'ready'; device: DeviceName; fallbacks: string[] }
  | { type: 'fatal'; message: string }
  /** tfjs shapes with null for free dimensions; bytesPerPixel: activations per input pixel at the peak. */
  | { type: 'loaded'; jobId: number; inputShape: (number | null)[]; outputShape: (number | null)[]; bytesPerPixel: number }
  /** Scores [rows, cols, classes] row-major. */
  | { type: 'result'; jobId: number; output: Float32Array; shape: [number, number, number] }
  | { type: 'sessions'; jobId: number; count: number }
  | { type: 'error'; jobId: number; message: string };
