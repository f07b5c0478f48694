import type * as tf from '@tensorflow/tfjs';
import { loadClassifier } from '../model/load';
import { loadDigitModelFiles } from './scene';

/** Loads the committed built-in digit model (window 28×28×1, 11 softmax outputs) with the project's loader. */
export async function loadDigitModel(): Promise<tf.LayersModel> {
  return (await loadClassifier((await loadDigitModelFiles()).modelJson)).model;
}
