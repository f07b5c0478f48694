/**
 * A Keras model saved in two files, as older tutorials save one: its architecture's JSON
 * (`model.to_json()`) and the weights `save_weights` wrote (`.h5`, `.weights.h5`), side by side in one
 * folder. Light on purpose: the CLI's model cache keys a model by both files without loading tfjs.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { MAX_SIDE_FILE_BYTES, readSideFile } from './guards';

// Not keras-config's: that module loads tfjs.
function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * True for Keras's own JSON of an architecture (`model.to_json()`: a `class_name` and a `config`), as
 * old tutorials save it beside the weights (`model.json` + `model.h5` from `save_weights`).
 */
export function isKerasArchitectureJson(json: unknown): json is Record<string, unknown> {
  return isRecord(json) && typeof json.class_name === 'string' && isRecord(json.config) && !('modelTopology' in json);
}

/** The one HDF5 weights file (`.h5`, `.hdf5`, `.weights.h5`) in the folder of an architecture JSON, or null when none or several. */
export async function weightsBeside(file: string): Promise<string | null> {
  const dir = path.dirname(file);
  const found = (await fs.readdir(dir)).filter((n) => /\.(h5|hdf5)$/i.test(n));
  return found.length === 1 ? path.join(dir, found[0]) : null;
}

/** The one Keras architecture JSON in the folder of `file` (see isKerasArchitectureJson), or null when none or several. */
export async function architectureBeside(file: string): Promise<string | null> {
  const dir = path.dirname(file);
  const found: string[] = [];
  // A folder of many JSON files (a downloads folder) is not read through: the architecture sits with few others, and is small.
  for (const name of (await fs.readdir(dir)).filter((n) => n.toLowerCase().endsWith('.json')).sort().slice(0, 8)) {
    const text = await readSideFile(dir, name, MAX_SIDE_FILE_BYTES).catch(() => null);
    if (text === null || !text.includes('"class_name"')) continue;
    try {
      if (isKerasArchitectureJson(JSON.parse(text))) found.push(path.join(dir, name));
    } catch {
      /* not JSON: not an architecture */
    }
  }
  return found.length === 1 ? found[0] : null;
}

