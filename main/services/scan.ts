/**
 * Folder scanning: turns the folders and files a user gives into the sorted list of image files a
 * batch processes. Files given by name are always kept (a bad one then fails with its own message);
 * inside folders only image extensions are kept and everything else is counted as skipped.
 */
import { promises as fs, type Dirent } from 'node:fs';
import path from 'node:path';
import sharp from '../io/sharp';
import { extensionOf, OPTIONAL_PHOTO_EXTENSIONS, PHOTO_EXTENSIONS } from '../../core/formats';

/**
 * Extensions of photo files picked up in folders (core/formats' list, lower case, without the dot):
 * the HEIF family only when this sharp build reads it.
 */
export const SCANNED_PHOTO_EXTENSIONS: readonly string[] = (() => {
  const heif = (sharp.format as unknown as Record<string, { input?: { file?: boolean; fileSuffix?: string[] } } | undefined>).heif;
  const heifSuffixes = new Set((heif?.input?.file ? heif.input.fileSuffix ?? ['.avif'] : []).map((s) => s.replace(/^\./, '').toLowerCase()));
  return PHOTO_EXTENSIONS.filter((e) => !OPTIONAL_PHOTO_EXTENSIONS.includes(e) || heifSuffixes.has(e));
})();

/** True when a folder entry is picked up as a photo (by its extension). */
export function isScannedPhoto(file: string): boolean {
  return SCANNED_PHOTO_EXTENSIONS.includes(extensionOf(file));
}

export interface SkippedFile {
  path: string;
  reason: string;
}

export interface ScanOptions {
  /** Descend into sub-folders (default false: only the folder's own files). */
  recursive?: boolean;
  /** Folders never entered (e.g. the output and cache folders), compared by real path. */
  exclude?: readonly string[];
  /** Include dot-files and dot-folders (default false; they are skipped and counted). */
  hidden?: boolean;
}

export interface ScanResult {
  /** Image files, absolute unless given relative by name, in natural sort order, each once. */
  photos: string[];
  /**
   * Per photo, the folders between the input folder it was found in and the photo, '/'-separated
   * ('a/b' for DIR/a/b/x.png; '' for a folder's own files and for files given by name): where a
   * batch mirrors it under its output folder.
   */
  subfolders: string[];
  /** Files and folders left out, with why (not an image, hidden, sub-folder without --recursive, loop…). */
  skipped: SkippedFile[];
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** Natural order ("img2" before "img10"), folders and files alike, by full path. */
export function comparePaths(a: string, b: string): number {
  return collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** True when `target` is `root` or inside it (both real paths). */
function isInside(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel === '' || (!path.isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${path.sep}`));
}

async function realpathOrSelf(p: string): Promise<string> {
  return fs.realpath(p).catch(() => path.resolve(p));
}

/**
 * Expand inputs (files and folders) into image files.
 * - A file given by name is kept whatever its extension, so an unreadable one is reported by the
 *   batch with its reason; a missing path is kept too (it fails with "cannot read file").
 * - A folder contributes its image files (by extension); with `recursive`, those of its sub-folders
 *   too. Symbolic links are followed while they stay inside the folder given (by real path); a link
 *   to a file or folder elsewhere is skipped with its target named, so a folder cannot hand over
 *   files the user did not choose (the CLI and the window scan alike). A folder reached twice (a
 *   link loop, or two inputs that overlap) is entered once.
 * - Photos are sorted naturally per input, inputs in the order given; duplicates are dropped.
 */
export async function scanInputs(inputs: readonly string[], opts: ScanOptions = {}): Promise<ScanResult> {
  const photos: string[] = [];
  const subfolders: string[] = [];
  const skipped: SkippedFile[] = [];
  const seenFiles = new Set<string>();
  const seenDirs = new Set<string>();
  const exclude = new Set(await Promise.all((opts.exclude ?? []).map(realpathOrSelf)));

  const addFile = async (file: string, subfolder: string): Promise<void> => {
    const real = await realpathOrSelf(file);
    if (seenFiles.has(real)) return;
    seenFiles.add(real);
    photos.push(file);
    subfolders.push(subfolder);
  };

  interface Found {
    file: string;
    subfolder: string;
  }
  /** Real path of the folder the user chose that is being walked: links may not lead out of it. */
  let chosenReal = '';
  const walk = async (dir: string, subfolder: string, found: Found[]): Promise<void> => {
    const real = await realpathOrSelf(dir);
    if (exclude.has(real)) {
      skipped.push({ path: dir, reason: 'output or cache folder' });
      return;
    }
    if (seenDirs.has(real)) {
      if (subfolder !== '') skipped.push({ path: dir, reason: 'folder already scanned (link loop or repeated input)' });
      return;
    }
    seenDirs.add(real);
    let entries: Dirent[];
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (err) {
      skipped.push({ path: dir, reason: `cannot read folder (${(err as Error).message})` });
      return;
    }
    entries.sort((a, b) => comparePaths(a.name, b.name));
    for (const e of entries) {
      const full = path.join(dir, e.name);
      if (!opts.hidden && e.name.startsWith('.')) {
        skipped.push({ path: full, reason: 'hidden' });
        continue;
      }
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        const st = await fs.stat(full).catch(() => null);
        if (st === null) {
          skipped.push({ path: full, reason: 'broken symbolic link' });
          continue;
        }
        // The user chose the folder, not what its links point to elsewhere (issue 19).
        const target = await fs.realpath(full).catch(() => null);
        if (target === null || !isInside(chosenReal, target)) {
          skipped.push({ path: full, reason: `symbolic link to ${target ?? 'an unreadable target'}, outside the chosen folder` });
          continue;
        }
        isDir = st.isDirectory();
        isFile = st.isFile();
      }
      if (isDir) {
        if (opts.recursive) await walk(full, subfolder === '' ? e.name : `${subfolder}/${e.name}`, found);
        else skipped.push({ path: full, reason: 'sub-folder (use --recursive)' });
      } else if (isFile && isScannedPhoto(e.name)) {
        found.push({ file: full, subfolder });
      } else {
        skipped.push({ path: full, reason: isFile ? 'not an image file' : 'not a regular file' });
      }
    }
  };

  for (const input of inputs) {
    const st = await fs.stat(input).catch(() => null);
    if (st?.isDirectory()) {
      const found: Found[] = [];
      chosenReal = await realpathOrSelf(input);
      await walk(input, '', found);
      found.sort((a, b) => comparePaths(a.file, b.file));
      for (const f of found) await addFile(f.file, f.subfolder);
    } else {
      await addFile(input, '');
    }
  }
  return { photos, subfolders, skipped };
}
