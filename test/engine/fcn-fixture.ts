/**
 * Small fully convolutional models built in-process for the engine tests, shaped like the
 * converter's output: input [batch, null, null, channels] → valid conv 3×3 → max-pool 2 → conv 3×3
 * → "head" conv whose kernel covers the remaining 5×5 map → 1×1 conv with softmax.
 * Window 16×16, stride 2×2, offset 0.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll } from 'vitest';
import type { ScoreMap } from '../../core/scoremap';
import { resizeRgb, type RgbImage } from '../../main/io/decode';
import type { Engine, ModelGeometry, ModelHandle } from '../../main/engine/engine';
import { preprocess } from '../../main/engine/preprocess';

export const FIXTURE_GEOMETRY = { window: [16, 16] as [number, number], stride: [2, 2] as [number, number], offset: [0, 0] as [number, number] };

/** Build the fixture FCN with seeded weights; the caller disposes it. */
export function buildFcn(channels: 1 | 3, classes = 3, seed = 1): tf.LayersModel {
  const init = (s: number) => tf.initializers.randomUniform({ minval: -0.5, maxval: 0.5, seed: seed * 100 + s });
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [null, null, channels] as unknown as number[], filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: init(1), biasInitializer: init(2) }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tf.layers.conv2d({ filters: 6, kernelSize: 3, activation: 'relu', kernelInitializer: init(3), biasInitializer: init(4) }));
  m.add(tf.layers.conv2d({ filters: 8, kernelSize: 5, activation: 'relu', kernelInitializer: init(5), biasInitializer: init(6) }));
  m.add(tf.layers.conv2d({ filters: classes, kernelSize: 1, activation: 'softmax', kernelInitializer: init(7), biasInitializer: init(8) }));
  return m;
}

/** Serialise a model the way the converter hands it over. */
export async function toArtifacts(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(tf.io.withSaveHandler(async (a) => {
    saved = a;
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  if (saved === undefined) throw new Error('model.save did not call the handler');
  return saved;
}

export function fixtureGeometry(channels: 1 | 3, preprocess: ModelGeometry['preprocess'] = 'unit'): ModelGeometry {
  return { ...FIXTURE_GEOMETRY, window: [...FIXTURE_GEOMETRY.window], stride: [...FIXTURE_GEOMETRY.stride], offset: [...FIXTURE_GEOMETRY.offset], channels, preprocess };
}

/**
 * Run a model in this process on one preprocessed image.
 * @param input [height, width, channels] float32.
 * @returns scores [rows, cols, classes] and the shape.
 */
export function predictDirect(model: tf.LayersModel, input: Float32Array, h: number, w: number, c: number): { scores: Float32Array; shape: number[] } {
  return tf.tidy(() => {
    const y = model.predict(tf.tensor4d(input, [1, h, w, c])) as tf.Tensor;
    return { scores: y.dataSync() as Float32Array, shape: y.shape.slice(1) };
  });
}

/** The RGB fixture (3 classes, seed 1) and the grey one (2 classes, seed 2), each with its artifacts. */
export interface FixtureModels {
  rgbModel: tf.LayersModel;
  greyModel: tf.LayersModel;
  rgbArtifacts: tf.io.ModelArtifacts;
  greyArtifacts: tf.io.ModelArtifacts;
}

/**
 * Register the suite hooks that build the two fixture models on tfjs's cpu backend and dispose them
 * afterwards. Call at the top level of a test file; the fields are set once its beforeAll has run.
 */
export function useFixtureModels(): FixtureModels {
  const models = {} as FixtureModels;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    models.rgbModel = buildFcn(3, 3, 1);
    models.greyModel = buildFcn(1, 2, 2);
    models.rgbArtifacts = await toArtifacts(models.rgbModel);
    models.greyArtifacts = await toArtifacts(models.greyModel);
  });
  afterAll(() => {
    models.rgbModel.dispose();
    models.greyModel.dispose();
  });
  return models;
}

/**
 * The engines' reference: the model run in this process on the photo resized to `scale` (each side
 * rounded to whole pixels) and preprocessed.
 * @returns scores [rows, cols, classes] and the shape.
 */
export async function predictScaled(model: tf.LayersModel, image: RgbImage, scale: number, mode: ModelGeometry['preprocess'], channels: 1 | 3): Promise<{ scores: Float32Array; shape: number[] }> {
  const scaled = await resizeRgb(image, Math.round(scale * image.height), Math.round(scale * image.width));
  return predictDirect(model, preprocess(scaled, mode, channels), scaled.height, scaled.width, channels);
}

/** Score maps of `image` at `scales` (the model's own preprocessing), and the tile count the engine reported. */
export async function scoreCountingTiles(engine: Engine, handle: ModelHandle, image: RgbImage, scales: readonly number[]): Promise<{ maps: ScoreMap[]; tiles: number }> {
  let tiles = 0;
  const maps = await engine.scoreMaps(handle, image, scales, undefined, { onProgress: (_d, total) => { tiles = total; } });
  return { maps, tiles };
}

/** A deterministic test photo: smooth gradients plus a few bright squares, [height, width, 3] uint8. */
export function testPhoto(height: number, width: number): { data: Uint8Array; width: number; height: number; channels: 3 } {
  const data = new Uint8Array(height * width * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const square = (Math.floor(y / 13) + Math.floor(x / 17)) % 3 === 0;
      data[i] = (x * 255) / Math.max(1, width - 1);
      data[i + 1] = (y * 255) / Math.max(1, height - 1);
      data[i + 2] = square ? 250 : (x * y) % 256;
    }
  }
  return { data, width, height, channels: 3 };
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
