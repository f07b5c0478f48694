/**
 * Messages between the ONNX Runtime engine and its process (./onnx-process). They are copied
 * (structured clone); the weights never travel: they go through the model's folder on disk.
 */
import type { io } from '@tensorflow/tfjs';
import type { PreprocessMode } from '../../core/model-info';
import type { DeviceName, DeviceRequest } from '../ort/runtime';
import type { PixelRegion } from './preprocess';

export interface OnnxHostInit {
  device: DeviceRequest | DeviceName;
  threads: number;
  /** A tiny model whose session tells which execution provider loads. */
  probe: Uint8Array;
  gpuProviders?: readonly string[];
  /** Model cache folder (main/io/model-cache): ONNX Runtime's optimised models are kept there by content. */
  modelCache?: { dir: string; maxBytes?: number };
}

/** The files of one model in its private folder (see OnnxEngine). */
export const MODEL_FILES = {
  /** tfjs weight data, every buffer of `artifacts.weightData` in order; removed once the model is loaded. */
  weights: 'weights.bin',
  /** The exported ONNX model, kept while the model is loaded so a restarted process can reopen it. */
  onnx: 'model.onnx',
  /**
   * ONNX Runtime's optimised form of it, for the CPU (see SessionOptions.saveOptimizedTo): where it
   * exists it replaces model.onnx and a restart opens it four times faster.
   */
  optimized: 'model.cpu.onnx',
} as const;

/** Engine → process. The first message is `init`; every message with a jobId gets exactly one reply carrying it. */
export type ToOnnxHost =
  | ({ type: 'init' } & OnnxHostInit)
  /**
   * Export the tfjs FCN in `dir` (topology here, weights in {@link MODEL_FILES}.weights) to
   * `dir/model.onnx` and open its session.
   */
  | { type: 'load'; jobId: number; modelId: string; dir: string; artifacts: Omit<io.ModelArtifacts, 'weightData'>; window: [number, number]; spinning?: boolean }
  /**
   * Open the session of a model exported before, from `file` (a converted model's own ONNX file, never
   * written to) or `dir/model.onnx`; ONNX Runtime's optimised form goes in `dir` (also after a restart).
   */
  | { type: 'open'; jobId: number; modelId: string; dir: string; file?: string; spinning?: boolean }
  /**
   * Open a session of an ONNX file as it is, not optimised, its threads asleep between runs (a few runs
   * of the conversion's checks: see main/onnx/one-off-session); the file is not touched. Replies `opened`.
   */
  | { type: 'openOneOff'; jobId: number; modelId: string; file: string }
  /** Run a model opened with `openOneOff` once on a float32 input of `dims` (ONNX_INPUT → ONNX_OUTPUT); replies `tensor`. */
  | { type: 'runTensor'; jobId: number; modelId: string; input: Float32Array; dims: number[] }
  | { type: 'release'; modelId: string }
  /** One tile: RGB pixels [height, width, 3] and the region of them to feed the model (see preprocessRegion). */
  | { type: 'run'; jobId: number; modelId: string; data: Uint8Array; height: number; width: number; region: PixelRegion; preprocess: PreprocessMode; channels: 1 | 3 }
  /** The process's state; replies `state`. */
  | { type: 'state'; jobId: number };

/** Process → engine. */
export type FromOnnxHost =
  | { type: 'ready'; device: DeviceName; fallbacks: string[] }
  | { type: 'fatal'; message: string }
  /** tfjs shapes with null for free dimensions; bytesPerPixel: activations per input pixel at the peak. */
  | { type: 'loaded'; jobId: number; inputShape: (number | null)[]; outputShape: (number | null)[]; bytesPerPixel: number; optimizedFromCache: boolean; fallback?: string }
  /**
   * openMs: milliseconds the session took to open (a restart's share for this model); the model's
   * input and output shapes as ONNX Runtime reads them (null for free dimensions); optimizedFromCache:
   * ONNX Runtime's optimised form came from the model cache instead of being made; fallback (also on
   * `loaded` and `result`): why the device failed on the model, which from then on runs on the CPU.
   */
  | { type: 'opened'; jobId: number; openMs: number; inputShape: (number | null)[]; outputShape: (number | null)[]; optimizedFromCache: boolean; fallback?: string }
  /** ONNX_OUTPUT of a `runTensor`, row-major, of `dims`. */
  | { type: 'tensor'; jobId: number; output: Float32Array; dims: number[] }
  /** Scores [rows, cols, classes] row-major. */
  | { type: 'result'; jobId: number; output: Float32Array; shape: [number, number, number]; fallback?: string }
  /** Open sessions, the process id, and its peak resident memory in bytes. */
  | { type: 'state'; jobId: number; sessions: number; spinning: Record<string, boolean>; pid: number; peakRssBytes: number }
  | { type: 'error'; jobId: number; message: string };
