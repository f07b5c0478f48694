import { describe, expect, it } from 'vitest';
import { isModelFolderListing, singleFileModels } from '../../core/formats';

describe('which folders hold a model (core/formats)', () => {
  it('takes a Teachable Machine Keras export, a .keras file and an ONNX file with its side files, not Keras 3 weights alone', () => {
    expect(singleFileModels(['labels.txt', 'keras_model.h5', 'LICENSE'])).toEqual(['keras_model.h5']);
    expect(singleFileModels(['Model.KERAS', 'notes.txt'])).toEqual(['Model.KERAS']);
    expect(singleFileModels(['mnist.onnx.data', 'mnist.onnx'])).toEqual(['mnist.onnx']);
    expect(singleFileModels(['model.weights.h5', 'config.json'])).toEqual([]);
    expect(singleFileModels(['b.h5', 'a.hdf5'])).toEqual(['a.hdf5', 'b.h5']);
  });

  it('calls a folder a model folder for model.json, convmap.json or a one-file model, and a folder of photos not', () => {
    expect(isModelFolderListing(['keras_model.h5', 'labels.txt'])).toBe(true);
    expect(isModelFolderListing(['model.json', 'group1-shard1of1.bin'])).toBe(true);
    expect(isModelFolderListing(['convmap.json', 'model.onnx'])).toBe(true);
    expect(isModelFolderListing(['cat.jpg', 'dog.png', 'model.weights.h5'])).toBe(false);
    expect(isModelFolderListing([])).toBe(false);
  });
});
