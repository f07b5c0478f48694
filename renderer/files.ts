/** Sorting dropped or OS-handed paths into models and photos. */

const PHOTO_EXT = /\.(jpe?g|png|webp|gif|avif|tiff?|heic|heif|bmp)$/i;
const MODEL_EXT = /\.(json|h5|hdf5|keras)$/i;

export interface OpenTarget {
  path: string;
  /** Known for drops (DataTransferItem entry); false when unknown. */
  isDirectory: boolean;
}

export interface SortedPaths {
  models: string[];
  photos: string[];
}

/** Folders and model files (.json, .h5, .keras) are models; everything else is offered as a photo. */
export function sortPaths(targets: readonly OpenTarget[]): SortedPaths {
  const out: SortedPaths = { models: [], photos: [] };
  for (const t of targets) {
    if (!t.path) continue;
    if (t.isDirectory || MODEL_EXT.test(t.path) || (!PHOTO_EXT.test(t.path) && !/\.[a-z0-9]{2,5}$/i.test(t.path))) out.models.push(t.path);
    else out.photos.push(t.path);
  }
  return out;
}

/** Last path component, for display. */
export function baseName(p: string): string {
  const parts = p.split(/[\\/]/).filter((x) => x.length > 0);
  return parts[parts.length - 1] ?? p;
}
