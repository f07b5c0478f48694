import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { modelToArtifacts } from './artifacts';
import { assertRegularFile, readRegularFile, UnsafeFileError } from '../io/safe-read';
import { ModelError } from './errors';
import { foreignZipReason } from './foreign';
import { architectureBeside } from './keras-pair';
import { assertLayerNames, assertModelBudget, MAX_MODEL_JSON_BYTES, MAX_SIDE_FILE_BYTES, readSideFile } from './guards';
import { H5ExternalLinkError } from './h5-guard';
import { kerasEntryNames, MAX_ARCHIVE_UNPACKED_BYTES, unzipKerasEntries } from './keras-zip';
import { attrStrings, attrText, getEntity, h5wasm, hdf5Reason, isGroup, openHdf5, sniffKerasFile, type H5File } from './hdf5';
import { buildModel, isRecord, parseConfig, type RawLayer } from './keras-config';
import { assignKeras3Weights, assignLegacyWeights } from './keras-weights';

export { HDF5_SIGNATURE, ZIP_SIGNATURE, kerasFileKind, sniffKerasFile } from './hdf5';
export { kerasSnakeCase } from './keras-weights';

/**
 * Keras native model files read without Python:
 * - HDF5 full-model files (Keras 2, and Keras 3 `model.save('x.h5')`): the architecture is the root
 *   attribute `model_config`; the weights are in `model_weights/<layer>/`, listed in order by the
 *   group's `weight_names` attribute (a nested model's group holds all its sublayers' weights).
 * - Keras 3 `.keras` archives: a zip of `config.json` (the architecture) and `model.weights.h5`,
 *   whose variables sit at `layers/<snake_case class>[_k]/vars/<i>` (nested models:
 *   `layers/<model>/layers/<layer>/vars/<i>`), named by class and position, not by layer name.
 * The architecture goes through normalizeTopology and tfjs builds it; each tfjs layer then gets its
 * weights in Keras order (kernel, bias; BatchNormalization gamma, beta, moving mean, moving
 * variance), which is tfjs's own order, after a shape check.
 */

/** Opens a weights-only HDF5 file of the given Keras architecture, read from its JSON. */
async function loadSplitHdf5(h5: H5File, weightsFile: string, architecture: string): Promise<tf.LayersModel> {
  const text = await readSideFile(path.dirname(architecture), path.basename(architecture), MAX_MODEL_JSON_BYTES);
  if (text === null) throw new ModelError(architecture, 'cannot be read');
  const config = parseConfig(text, architecture, 'the architecture');
  assertLayerNames(config, architecture);
  const declared = typeof config.keras_version === 'string' ? config.keras_version : attrText(h5.root, 'keras_version');
  const legacy = attrStrings(h5.root, 'layer_names') !== null;
  // Keras 3's JSON names each class's module; Keras 2's states its version.
  const model = await buildModel(config, architecture, declared ?? ('module' in config || !legacy ? '3.0.0' : '2.0.0'));
  try {
    assertModelBudget(weightsFile, model);
    if (legacy) assignLegacyWeights(h5, model, h5.root, weightsFile);
    else assignKeras3Weights(h5, model, config as unknown as RawLayer, '', weightsFile);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}

/**
 * Builds the model from a Keras HDF5 full-model file (Keras 2, or Keras 3's legacy `.h5`), or from a
 * weights-only file (`save_weights`) with its architecture's JSON (`model.to_json()`): `architecture`,
 * or else the one such JSON beside it.
 */
async function loadHdf5(file: string, architecture?: string): Promise<tf.LayersModel> {
  const { size } = await assertRegularFile(file);
  const mod = await h5wasm();
  const h5 = openHdf5(mod, path.resolve(file), file, 'the file', size);
  try {
    const text = attrText(h5.root, 'model_config');
    if (text === null) {
      const keys = h5.root.keys();
      const weightsOnly =
        attrStrings(h5.root, 'layer_names') !== null || keys.includes('layers') || keys.includes('vars') || keys.includes('_layer_checkpoint_dependencies');
      if (weightsOnly) {
        const json = architecture ?? (await architectureBeside(file));
        if (json !== null) return await loadSplitHdf5(h5, file, json);
        throw new ModelError(
          file,
          'holds weights only (written by save_weights: no model_config attribute, so no architecture); ' +
            "save the whole model with model.save('model.keras') or model.save('model.h5') and open that, or put the JSON of model.to_json() beside it",
        );
      }
      throw new ModelError(file, 'is an HDF5 file but not a Keras model (no model_config attribute)');
    }
    const config = parseConfig(text, file, 'the model_config attribute');
    assertLayerNames(config, file);
    const model = await buildModel(config, file, attrText(h5.root, 'keras_version'));
    try {
      assertModelBudget(file, model);
      const root = getEntity(h5.root, 'model_weights');
      if (!isGroup(h5, root)) throw new ModelError(file, 'has a model_config but no model_weights group: the weights are missing');
      assignLegacyWeights(h5, model, root, file);
    } catch (e) {
      model.dispose();
      throw e;
    }
    return model;
  } finally {
    h5.close();
  }
}

/** The keras_version in a .keras archive's metadata.json; .keras files are Keras 3 unless it says otherwise. */
function archiveKerasVersion(metadata: Uint8Array | undefined): string {
  if (metadata) {
    try {
      const m: unknown = JSON.parse(Buffer.from(metadata).toString('utf8'));
      if (isRecord(m) && typeof m.keras_version === 'string') return m.keras_version;
    } catch {
      /* a damaged metadata.json does not stop the model from loading */
    }
  }
  return '3';
}

/** Builds the model from a Keras 3 `.keras` archive (config.json + model.weights.h5). */
async function loadKerasArchive(file: string, bytes: Uint8Array): Promise<tf.LayersModel> {
  // Only the entries Convmap reads are unpacked, within caps (a zip bomb is refused, not inflated).
  const entries = unzipKerasEntries(file, bytes, {
    'config.json': MAX_MODEL_JSON_BYTES,
    'model.weights.h5': MAX_ARCHIVE_UNPACKED_BYTES,
    'metadata.json': MAX_SIDE_FILE_BYTES,
  });
  const configBytes = entries['config.json'];
  if (!configBytes) {
    const entries = kerasEntryNames(file, bytes);
    throw new ModelError(file, foreignZipReason(entries) ?? `is a zip archive without config.json: not a Keras 3 .keras model (it holds ${entries.slice(0, 5).join(', ') || 'nothing'})`);
  }
  const config = parseConfig(Buffer.from(configBytes).toString('utf8'), file, 'config.json');
  assertLayerNames(config, file);
  const weightsBytes = entries['model.weights.h5'];
  if (!weightsBytes) {
    const npz = kerasEntryNames(file, bytes).includes('model.weights.npz');
    throw new ModelError(file, npz ? 'stores its weights as model.weights.npz, which Convmap does not read (only model.weights.h5)' : 'has no model.weights.h5: the weights are missing');
  }
  const model = await buildModel(config, file, archiveKerasVersion(entries['metadata.json']));
  try {
    assertModelBudget(file, model);
  } catch (e) {
    model.dispose();
    throw e;
  }
  const mod = await h5wasm();
  // h5wasm's Node build reads from the host file system: the inner HDF5 file goes to a temp folder.
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-keras-'));
  try {
    const inner = path.join(dir, 'model.weights.h5');
    await fs.writeFile(inner, weightsBytes);
    const h5 = openHdf5(mod, inner, file, 'its model.weights.h5', weightsBytes.length);
    try {
      assignKeras3Weights(h5, model, config as unknown as RawLayer, '', file);
    } finally {
      h5.close();
    }
  } catch (e) {
    model.dispose();
    throw e;
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
  return model;
}

/**
 * Opens a Keras native file (HDF5 `.h5`/`.hdf5` or a `.keras` zip, told apart by content) as a tfjs
 * model with its weights. Every failure is a one-line ModelError naming the file (and the layer).
 */
export async function loadKerasModel(file: string, opts: { architecture?: string } = {}): Promise<tf.LayersModel> {
  try {
    return await loadKerasModelUnguarded(file, opts.architecture);
  } catch (e) {
    if (e instanceof ModelError) throw e;
    if (e instanceof UnsafeFileError || e instanceof H5ExternalLinkError) throw new ModelError(file, e instanceof UnsafeFileError ? e.detail : e.message);
    // An HDF5 error deep in a damaged file: its innermost reason, on one line.
    throw new ModelError(file, `cannot be read as a Keras model: ${hdf5Reason(e)}`);
  }
}

async function loadKerasModelUnguarded(file: string, architecture?: string): Promise<tf.LayersModel> {
  const kind = await sniffKerasFile(file);
  if (kind === 'hdf5') return loadHdf5(file, architecture);
  if (kind === 'zip') {
    const bytes = await readRegularFile(file, { maxBytes: MAX_ARCHIVE_UNPACKED_BYTES, capName: 'the limit for a .keras file' });
    return loadKerasArchive(file, bytes);
  }
  throw new ModelError(file, 'is not a Keras file (neither HDF5 nor a .keras zip)');
}

/**
 * A Keras native file as tfjs ModelArtifacts (topology + weights), as tfjs itself would save it.
 * @param opts.architecture a weights-only file's architecture JSON (`model.to_json()`).
 */
export async function readKerasArtifacts(file: string, opts: { architecture?: string } = {}): Promise<tf.io.ModelArtifacts> {
  const model = await loadKerasModel(file, opts);
  try {
    return await modelToArtifacts(model);
  } finally {
    model.dispose();
  }
}
