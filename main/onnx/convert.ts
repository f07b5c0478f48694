/**
 * The converter's ONNX step: the saved FCN (tfjs artifacts) exported as ONNX, checked in ONNX
 * Runtime against tfjs, and written as DIR/model.onnx beside the tfjs files and the sidecar.
 */
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { ConvertedModelInfo } from '../../core/model-info';
import { writeFileAtomic } from '../io/atomic';
import { modelFromArtifacts } from '../model/artifacts';
import { exportOnnx, exportOnnxFile } from './export';
import { checkOnnx, type OnnxCheck } from './verify';

/** File name of the ONNX model in a converted folder. */
export const ONNX_FILE = 'model.onnx';

/**
 * Size of the check image: per axis the smallest window + k·stride that is at least twice the
 * window, so the check covers ≥ 2 cells per axis and every stride-aligned border of the network.
 */
export function onnxCheckSize(info: Pick<ConvertedModelInfo, 'window' | 'stride'>): [number, number] {
  const axis = (w: number, s: number): number => w + Math.ceil(w / s) * s;
  return [axis(info.window[0], info.stride[0]), axis(info.window[1], info.stride[1])];
}

/** Metadata stored in the ONNX file: what a tool needs to read its cells without the sidecar. */
function metadata(info: ConvertedModelInfo): Record<string, string> {
  return {
    'convmap.window': info.window.join(','),
    'convmap.stride': info.stride.join(','),
    'convmap.offset': info.offset.join(','),
    'convmap.preprocess': info.preprocess,
    'convmap.labels': JSON.stringify(info.labels),
    'convmap.layout': 'input image [batch, height, width, channels] float32; output scores [batch, rows, cols, classes]',
  };
}

/**
 * Exports a converted model to ONNX and checks it in ONNX Runtime against the tfjs FCN on a random
 * image of {@link onnxCheckSize}, every cell and class.
 * @param artifacts the FCN as saved by the converter (input [batch, null, null, channels])
 * @param file named in error messages
 * @throws ModelError naming the layer with no ONNX mapping, or the first layer whose outputs differ
 */
export async function exportConverted(artifacts: tf.io.ModelArtifacts, info: ConvertedModelInfo, file: string): Promise<{ bytes: Uint8Array; check: OnnxCheck }> {
  const fcn = await modelFromArtifacts(artifacts, file);
  try {
    const bytes = exportFcn(fcn, info, file);
    const check = await checkOnnx(fcn, bytes, file, onnxCheckSize(info));
    return { bytes, check };
  } finally {
    fcn.dispose();
  }
}

/**
 * The ONNX file of a converted model, with Convmap's metadata (what `convert -o` saves as model.onnx).
 * @param fcn the FCN, input [batch, null, null, channels]
 * @throws ModelError naming the layer with no ONNX mapping
 */
export function exportFcn(fcn: tf.LayersModel, info: ConvertedModelInfo, file: string): Uint8Array {
  return exportOnnx(fcn, file, { metadata: metadata(info) }).bytes;
}

/**
 * {@link exportFcn} written to `dest` as it is encoded (streamed, atomically): the bytes are never
 * whole in memory, each kernel goes from tfjs's heap into its part of the file.
 * @throws ModelError naming the layer with no ONNX mapping
 */
export async function exportFcnFile(fcn: tf.LayersModel, info: ConvertedModelInfo, file: string, dest: string): Promise<void> {
  await exportOnnxFile(fcn, file, dest, { metadata: metadata(info) });
}

/**
 * The ONNX side of a prepared model for `convmap convert`: the check its conversion made on its ONNX
 * file (convertModel's `onnxCheck`), or, for a model prepared otherwise, {@link exportConverted}'s;
 * how to save model.onnx into a folder (the checked file copied where the conversion kept it, else
 * streamed from a rebuild of the artifacts: the ONNX bytes and the artifacts are never held
 * together); and `release`, which removes the kept file's temporary folder (call it in any case).
 */
export async function convertedOnnx(
  prepared: { artifacts: tf.io.ModelArtifacts; info: ConvertedModelInfo; onnxCheck?: OnnxCheck; checkedOnnxFile?: string }, file: string,
): Promise<{ check: OnnxCheck; save: (dir: string) => Promise<void>; release: () => Promise<void> }> {
  const { artifacts, info, onnxCheck, checkedOnnxFile } = prepared;
  const kept = checkedOnnxFile;
  const release = async (): Promise<void> => {
    if (kept !== undefined) await rm(path.dirname(kept), { recursive: true, force: true });
  };
  if (onnxCheck === undefined) {
    await release();
    const { bytes, check } = await exportConverted(artifacts, info, file);
    return { check, save: (dir) => saveOnnx(dir, bytes), release: async () => undefined };
  }
  return {
    check: onnxCheck,
    save: async (dir) => {
      const dest = path.join(dir, ONNX_FILE);
      if (kept !== undefined) {
        await copyFileAtomic(kept, dest);
        return;
      }
      const fcn = await modelFromArtifacts(artifacts, file);
      try {
        await exportFcnFile(fcn, info, file, dest);
      } finally {
        fcn.dispose();
      }
    },
    release,
  };
}

/** Copies `from` to `to` through a temporary name in `to`'s folder, renamed into place. */
async function copyFileAtomic(from: string, to: string): Promise<void> {
  await writeFileAtomic(to, () => createReadStream(from));
}

/** Writes DIR/model.onnx atomically. */
export async function saveOnnx(dir: string, bytes: Uint8Array): Promise<void> {
  await writeFileAtomic(path.join(dir, ONNX_FILE), bytes);
}
