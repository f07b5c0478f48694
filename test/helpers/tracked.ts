import * as tf from '@tensorflow/tfjs';
import { afterAll } from 'vitest';
import { randomizeWeights } from './models';

/** The models one test file makes, all disposed after its last test. */
export interface ModelTracker {
  /** Dispose `model` after the file's tests; returns it. */
  track<T extends tf.LayersModel>(model: T): T;
  /** A tracked Sequential of `layers` with seeded random weights (randomizeWeights). */
  seq(layers: tf.layers.Layer[], seed: number): tf.Sequential;
}

/** Call at the top level of a test file: registers the afterAll that disposes what is tracked. */
export function trackModels(): ModelTracker {
  const made: tf.LayersModel[] = [];
  afterAll(() => made.forEach((m) => m.dispose()));
  const track = <T extends tf.LayersModel>(model: T): T => {
    made.push(model);
    return model;
  };
  return {
    track,
    seq: (layers, seed) => {
      const m = tf.sequential({ layers });
      randomizeWeights(m, seed);
      return track(m);
    },
  };
}
