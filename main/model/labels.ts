import { readRegularFile, UnsafeFileError } from '../io/safe-read';
import { ModelError } from './errors';

/** Label files are short text; anything bigger is not one. */
const MAX_LABELS_BYTES = 16 << 20;

/**
 * Class names from a file the user gives (`--labels FILE`): a JSON array of strings, or text with
 * one label a line (blank lines and surrounding spaces ignored, UTF-8, a BOM allowed).
 * @param classes the number of classes the converted output has; the file must hold as many
 * @returns the labels, in class-index order
 */
export async function readLabelsFile(file: string, classes: number): Promise<string[]> {
  let bytes: Buffer;
  try {
    bytes = await readRegularFile(file, { maxBytes: MAX_LABELS_BYTES, capName: 'the label file limit' });
  } catch (e) {
    if (e instanceof UnsafeFileError) throw new ModelError(file, e.detail);
    throw new ModelError(file, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const text = bytes.toString('utf8').replace(/^\uFEFF/, '');
  let labels: string[];
  if (/^\s*\[/.test(text)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new ModelError(file, `starts like a JSON array but is not valid JSON (${(e as Error).message})`);
    }
    if (!Array.isArray(parsed) || !parsed.every((l) => typeof l === 'string')) {
      throw new ModelError(file, 'is a JSON value but not an array of strings');
    }
    labels = parsed as string[];
  } else {
    labels = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  }
  if (labels.length !== classes) {
    throw new ModelError(file, `holds ${labels.length} label(s), but the model's output has ${classes} class(es): one label per class, in class order`);
  }
  return labels;
}

/**
 * Label lines as Teachable Machine's Keras export writes them (`0 5 Galoon`, `1 500ML`: each line
 * starts with its class index and a space): the names without the index when every line has its own
 * index in order; otherwise the lines unchanged.
 * @returns the class names and whether the lines carried index prefixes
 */
export function stripIndexPrefixes(lines: string[]): { labels: string[]; indexed: boolean } {
  const indexed = lines.length > 0 && lines.every((l, i) => l.startsWith(`${i} `) && l.length > `${i} `.length);
  return { labels: indexed ? lines.map((l, i) => l.slice(`${i} `.length).trim()) : lines, indexed };
}

/** The file name Teachable Machine gives its Keras export (beside an index-prefixed labels.txt). */
export const TEACHABLE_MACHINE_KERAS_FILE = 'keras_model.h5';
