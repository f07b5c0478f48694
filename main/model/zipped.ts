/**
 * A model handed over as the zip it was downloaded in: Teachable Machine's "Download my model" gives
 * `tm-my-image-model.zip` (model.json, metadata.json, weights.bin) or `converted_keras.zip`
 * (keras_model.h5, labels.txt), and people open that. Its files are unpacked, within the same bounds as
 * a `.keras` archive's (./keras-zip), into a private folder the caller opens as the model and removes.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readFileHead, readRegularFile } from '../io/safe-read';
import { kerasEntryNames, MAX_ARCHIVE_UNPACKED_BYTES, unzipKerasEntries } from './keras-zip';
import { ZIP_SIGNATURE } from './hdf5';

/** What a zipped model's folder may hold, by name: the model, its weights, labels and metadata. */
const KEPT = /^(model\.json|metadata\.json|labels\.txt|classes\.txt|[^/]+\.(bin|h5|hdf5|keras|onnx|data))$/i;

/** The zip's model entry: the folder's model.json, or its one Keras or ONNX file. */
function modelEntry(entries: readonly string[]): string | undefined {
  const json = entries.filter((e) => path.posix.basename(e) === 'model.json');
  if (json.length === 1) return json[0];
  if (json.length > 1) return undefined;
  const single = entries.filter((e) => /\.(h5|hdf5|keras|onnx)$/i.test(e) && !/\.weights\.h5$/i.test(e));
  return single.length === 1 ? single[0] : undefined;
}

/** A zip holding a model: its entry names, the model's entry, and the archive's bytes (read once). */
export interface ZippedModel {
  entries: string[];
  model: string;
  bytes: Uint8Array;
}

/**
 * The entries of `file` when it is a zip (not a Keras 3 `.keras` archive: no config.json) that holds a
 * model to open (see {@link modelEntry}); null otherwise (not a regular file, not a zip, no model).
 */
export async function zippedModel(file: string): Promise<ZippedModel | null> {
  if (/\.keras$/i.test(file)) return null;
  const head = await readFileHead(file, 4).catch(() => null);
  if (head === null || !head.subarray(0, 4).equals(ZIP_SIGNATURE)) return null;
  const bytes = await readRegularFile(file, { maxBytes: MAX_ARCHIVE_UNPACKED_BYTES, capName: 'the limit for a zipped model' }).catch(() => null);
  if (bytes === null) return null;
  let entries: string[];
  try {
    entries = kerasEntryNames(file, bytes);
  } catch {
    return null;
  }
  if (entries.some((e) => path.posix.basename(e) === 'config.json')) return null;
  const model = modelEntry(entries);
  return model === undefined ? null : { entries, model, bytes };
}

/**
 * Unpacks the files beside the zip's model entry (model.json and its weight shards, metadata.json,
 * labels.txt, a Keras or ONNX file and its external data) into a new private folder, each under its
 * own base name (no entry names a path outside it).
 * @returns the folder and the model's path inside it; the caller removes the folder.
 */
export async function unpackZippedModel(file: string, zipped: ZippedModel): Promise<{ dir: string; model: string }> {
  const { bytes } = zipped;
  const folder = path.posix.dirname(zipped.model);
  const kept = zipped.entries.filter((e) => path.posix.dirname(e) === folder && KEPT.test(path.posix.basename(e)));
  const unpacked = unzipKerasEntries(file, bytes, Object.fromEntries(kept.map((e) => [e, MAX_ARCHIVE_UNPACKED_BYTES])));
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-unzipped-'));
  try {
    for (const [name, data] of Object.entries(unpacked)) await fs.writeFile(path.join(dir, path.posix.basename(name)), data);
  } catch (e) {
    await fs.rm(dir, { recursive: true, force: true });
    throw e;
  }
  return { dir, model: path.join(dir, path.posix.basename(zipped.model)) };
}
