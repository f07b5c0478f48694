import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PhotoRef } from '../../core/api';
import { createAppService, type AppService } from '../../main/services/window/app-service';
import { modelToArtifacts } from '../../main/model/artifacts';
import { randomizeWeights, useWasm } from '../helpers/models';

/**
 * The window's choices of output and label file (issue 9), through the app service with the real
 * conversion worker and engine: a two-output classifier built here, scores checked against the
 * classifier's own outputs on crops of the photo (tfjs in this process).
 */
const WINDOW = 16;
const STRIDE = 2;
const PHOTO_SIZE = 20;

/** Two class heads on one trunk: "gender" (2 classes) first, "age" (3 classes) second. */
function twoHeads(): tf.LayersModel {
  const input = tf.input({ shape: [WINDOW, WINDOW, 3] });
  const trunk = tf.layers.conv2d({ filters: 4, kernelSize: 4, strides: STRIDE, activation: 'relu', name: 'trunk' }).apply(input) as tf.SymbolicTensor; // 7×7
  const flat = tf.layers.flatten({ name: 'flat' }).apply(trunk) as tf.SymbolicTensor;
  const gender = tf.layers.dense({ units: 2, activation: 'softmax', name: 'gender' }).apply(flat) as tf.SymbolicTensor;
  const age = tf.layers.dense({ units: 3, activation: 'softmax', name: 'age' }).apply(flat) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: [gender, age] });
  randomizeWeights(model, 910);
  return model;
}

describe('the window\'s output and label choices (app service, two-output model)', () => {
  let dir: string;
  let service: AppService;
  let classifier: tf.LayersModel;
  let modelFile: string;
  let photo: PhotoRef;
  let pixels: Uint8Array;

  beforeAll(async () => {
    await useWasm();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-choices-'));
    classifier = twoHeads();
    const artifacts = await modelToArtifacts(classifier);
    const data = artifacts.weightData;
    const parts = data === undefined ? [] : Array.isArray(data) ? data : [data];
    await fs.mkdir(path.join(dir, 'model'));
    modelFile = path.join(dir, 'model', 'model.json');
    await fs.writeFile(modelFile, JSON.stringify({
      format: 'layers-model', modelTopology: artifacts.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
    }));
    await fs.writeFile(path.join(dir, 'model', 'weights.bin'), Buffer.concat(parts.map((b) => Buffer.from(b))));
    pixels = new Uint8Array(PHOTO_SIZE * PHOTO_SIZE * 3);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 97 + 13) % 256;
    const photoFile = path.join(dir, 'photo.png');
    await sharp(pixels, { raw: { width: PHOTO_SIZE, height: PHOTO_SIZE, channels: 3 } }).png().toFile(photoFile);
    service = await createAppService({ userDataDir: path.join(dir, 'user'), engine: { backend: 'wasm', workers: 1 }, cacheDir: null });
    [photo] = (await service.addPhotos([photoFile])).photos;
  });
  afterAll(async () => {
    await service?.close();
    classifier?.dispose();
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** The classifier's output `index` on the window at cell (i, j) of the photo, preprocessed as x / 255. */
  const cropScores = (index: number, i: number, j: number): number[] => tf.tidy(() => {
    const image = tf.tensor4d(Float32Array.from(pixels, (v) => v / 255), [1, PHOTO_SIZE, PHOTO_SIZE, 3]);
    const crop = image.slice([0, i * STRIDE, j * STRIDE, 0], [1, WINDOW, WINDOW, 3]);
    return Array.from((classifier.predict(crop) as tf.Tensor[])[index].dataSync());
  });

  async function cellsOf(modelId: string, jobId: string): Promise<{ rows: number; cols: number; classes: number; cell: (i: number, j: number) => number[] }> {
    const [map] = (await service.computeScores({ jobId, modelId, photoId: photo.id, scales: [1] })).maps;
    return { rows: map.rows, cols: map.cols, classes: map.classes, cell: (i, j) => Array.from(map.scores.slice((i * map.cols + j) * map.classes, (i * map.cols + j + 1) * map.classes)) };
  }

  it('converts the first class output by default and lists both; choosing "age" reloads it with age\'s 3 classes and scores', async () => {
    const first = await service.loadModel({ path: modelFile });
    expect(first.info.output).toBe('gender');
    expect(first.info.outputs?.map((o) => [o.name, o.shape, o.kind])).toEqual([['gender', [null, 2], 'classes'], ['age', [null, 3], 'classes']]);
    expect(first.info.labels).toHaveLength(2);

    const chosen = await service.loadModel({ path: modelFile, output: 'age' });
    expect(chosen.info.output).toBe('age');
    expect(chosen.info.labels).toEqual(['class 0', 'class 1', 'class 2']);
    // The newest load of a file replaces the one before.
    expect(service.hasModel(first.id)).toBe(false);
    const cells = await cellsOf(chosen.id, 'age-1');
    expect([cells.rows, cells.cols, cells.classes]).toEqual([3, 3, 3]);
    for (const [i, j] of [[0, 0], [1, 2], [2, 1]] as const) {
      const want = cropScores(1, i, j);
      cells.cell(i, j).forEach((v, k) => expect(Math.abs(v - want[k])).toBeLessThan(1e-4));
    }
  });

  it('takes a label file for the chosen output, and refuses one whose count is not the output\'s, naming the file', async () => {
    const labels = path.join(dir, 'age.txt');
    await fs.writeFile(labels, 'child\nadult\nsenior\n');
    const m = await service.loadModel({ path: modelFile, output: 'age', labelsFile: labels });
    expect(m.info.labels).toEqual(['child', 'adult', 'senior']);
    expect(m.info.labelsFile).toBe(labels);
    // Two labels fit "gender", not "age".
    const two = path.join(dir, 'two.txt');
    await fs.writeFile(two, 'f\nm\n');
    await expect(service.loadModel({ path: modelFile, output: 'age', labelsFile: two })).rejects.toThrow(
      `${two}: holds 2 label(s), but the model's output has 3 class(es): one label per class, in class order`,
    );
    const g = await service.loadModel({ path: modelFile, labelsFile: two });
    expect([g.info.output, g.info.labels]).toEqual(['gender', ['f', 'm']]);
    const cells = await cellsOf(g.id, 'gender-1');
    const want = cropScores(0, 2, 2);
    cells.cell(2, 2).forEach((v, k) => expect(Math.abs(v - want[k])).toBeLessThan(1e-4));
  });
});
