/** Sorting dropped or OS-handed paths into models and photos (by core/formats' lists). */
import { extensionOf, hasModelExtension, hasPhotoExtension } from '../core/formats';

export interface OpenTarget {
  path: string;
  /** Known for drops (DataTransferItem entry); false when unknown. */
  isDirectory: boolean;
}

export interface SortedPaths {
  models: string[];
  photos: string[];
  /**
   * Folders (and paths without an extension): main decides — a folder holding a model
   * (model.json / convmap.json) is loaded as a model, any other is opened as a folder of photos.
   */
  folders: string[];
}

/**
 * Model files (.json, .h5, .keras, .onnx) and zips (a Teachable Machine download) are models; folders
 * and extension-less paths go to main to sort; the rest are photos.
 */
export function sortPaths(targets: readonly OpenTarget[]): SortedPaths {
  const out: SortedPaths = { models: [], photos: [], folders: [] };
  for (const t of targets) {
    if (!t.path) continue;
    if (t.isDirectory) out.folders.push(t.path);
    else if (hasModelExtension(t.path) || extensionOf(t.path) === 'zip') out.models.push(t.path);
    else if (!hasPhotoExtension(t.path) && !/\.[a-z0-9]{2,5}$/i.test(t.path)) out.folders.push(t.path);
    else out.photos.push(t.path);
  }
  return out;
}

/** Last path component, for display. */
export function baseName(p: string): string {
  const parts = p.split(/[\\/]/).filter((x) => x.length > 0);
  return parts[parts.length - 1] ?? p;
}
