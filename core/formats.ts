/**
 * The one list of photo formats and the one list of model formats, shared by main (folder scans,
 * dialogs, the CLI's model argument) and the renderer (sorting dropped paths).
 */

/**
 * Photo file extensions, lower case, without the dot. BMP and DIB are read by Convmap's own decoder
 * (libvips, sharp's image library, does not read BMP); AVIF, HEIC and HEIF only where the sharp
 * build reads them (main filters them with {@link OPTIONAL_PHOTO_EXTENSIONS}).
 */
export const PHOTO_EXTENSIONS = ['jpg', 'jpeg', 'jpe', 'jfif', 'png', 'webp', 'tif', 'tiff', 'gif', 'bmp', 'dib', 'avif', 'heic', 'heif'] as const;

/** Photo extensions that need the HEIF support some sharp builds lack. */
export const OPTIONAL_PHOTO_EXTENSIONS: readonly string[] = ['avif', 'heic', 'heif'];

/** Model file extensions (a tfjs model.json, Keras 2/3 .h5 and .hdf5, Keras 3 .keras, ONNX), lower case, without the dot. */
export const MODEL_EXTENSIONS = ['json', 'h5', 'hdf5', 'keras', 'onnx'] as const;

/** A folder holding one of these files is a model folder (a tfjs export, or a Convmap-converted model). */
export const MODEL_FOLDER_FILES = ['model.json', 'convmap.json'] as const;

/** Lower-case extension of a path without the dot ('' when none); either separator. */
export function extensionOf(file: string): string {
  const base = file.slice(Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\')) + 1);
  const dot = base.lastIndexOf('.');
  return dot <= 0 ? '' : base.slice(dot + 1).toLowerCase();
}

/** True when the path names a photo by its extension (any entry of {@link PHOTO_EXTENSIONS}). */
export function hasPhotoExtension(file: string): boolean {
  return (PHOTO_EXTENSIONS as readonly string[]).includes(extensionOf(file));
}

/** True when the path names a model file by its extension ({@link MODEL_EXTENSIONS}). */
export function hasModelExtension(file: string): boolean {
  return (MODEL_EXTENSIONS as readonly string[]).includes(extensionOf(file));
}

/** Extensions of a folder's entries that are a whole model in one file (Keras 2/3 and ONNX). */
const SINGLE_FILE_MODEL_EXTENSIONS: readonly string[] = ['keras', 'h5', 'hdf5', 'onnx'];

/**
 * The entries of a folder that are a whole model in one file (`*.keras`, `*.h5`, `*.hdf5`, `*.onnx`;
 * not Keras 3's `*.weights.h5`, which holds weights only), sorted: a Teachable Machine Keras export
 * (`keras_model.h5` + `labels.txt`) or an ONNX file with its side files.
 */
export function singleFileModels(entries: readonly string[]): string[] {
  return entries.filter((e) => SINGLE_FILE_MODEL_EXTENSIONS.includes(extensionOf(e)) && !/\.weights\.h5$/i.test(e)).sort();
}

/** True when a folder's entry names include a model file ({@link MODEL_FOLDER_FILES}) or a {@link singleFileModels} file. */
export function isModelFolderListing(entries: readonly string[]): boolean {
  return MODEL_FOLDER_FILES.some((f) => entries.includes(f)) || singleFileModels(entries).length > 0;
}
