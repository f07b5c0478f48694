/**
 * Writing one photo's outputs into the output folder: the picture PNG, its scores summary JSON and
 * .npy grid, file names from a pattern, never overwriting silently. Every file is written to a
 * temporary name in the output folder and then renamed (or hard-linked, for no-clobber), so a crash
 * or a full disk leaves no half-written file under a final name.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { namePatternProblem, PICTURE_EXTENSIONS, type PictureFormat } from '../../core/recipe';
import { linkNoClobber, NAME_MAX_BYTES, OutputError, tempName, writeData, writeFileAtomic, type FileData } from '../io/atomic';


const FORBIDDEN = /[/\\:*?"<>|\x00-\x1f]/g;

/** A class label or photo name made safe as part of a file name. */
export function safeFilePart(s: string): string {
  const t = s.replace(FORBIDDEN, '_').trim();
  return t === '' || t === '.' || t === '..' ? '_' : t;
}

/**
 * The folder under `outDir` for a photo found in sub-folder `subfolder` of its input ('/'-separated,
 * as scanInputs gives it): each part made safe as a file name part, never leaving `outDir`.
 * @throws for a part that is empty, '.', '..' or absolute (never produced by a scan).
 */
export function subfolderIn(outDir: string, subfolder: string): string {
  if (subfolder === '') return outDir;
  const parts = subfolder.split(/[/\\]/);
  if (path.isAbsolute(subfolder) || parts.some((part) => part === '' || part === '.' || part === '..')) {
    throw new Error(`sub-folder "${subfolder}" is not a relative path inside the output folder`);
  }
  const dir = path.join(outDir, ...parts.map(safeFilePart));
  const rel = path.relative(outDir, dir);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) throw new Error(`sub-folder "${subfolder}" leaves the output folder`);
  return dir;
}

/**
 * Sub-folders that keep apart same-named photos from different folders (a window export of photos
 * opened one by one): photos whose sub-folder and file name coincide but whose folders differ get,
 * under that sub-folder, the fewest trailing folders of their own path that tell them apart
 * (`/trip/a/cat.jpg`, `/work/a/cat.jpg` → `trip/a`, `work/a`), so no name needs a "-2".
 * @param paths the photos' absolute paths.
 * @param subfolders '/'-separated sub-folders, one per path ('' for none), as scans give them.
 * @returns one sub-folder per path, for subfolderIn.
 */
export function distinctSubfolders(paths: readonly string[], subfolders: readonly string[]): string[] {
  const out = paths.map((_, i) => subfolders[i] ?? '');
  const groups = new Map<string, number[]>();
  paths.forEach((p, i) => {
    const key = `${out[i]}\0${path.basename(p)}`;
    groups.set(key, [...(groups.get(key) ?? []), i]);
  });
  for (const members of groups.values()) {
    const dirs = members.map((i) => path.dirname(paths[i]).split(/[/\\]/).filter((part) => part !== '' && part !== '.' && part !== '..'));
    if (new Set(dirs.map((d) => d.join('/'))).size < 2) continue;
    const deepest = Math.max(...dirs.map((d) => d.length));
    for (let k = 1; k <= deepest; k++) {
      const tails = dirs.map((d) => d.slice(-k).join('/'));
      if (new Set(tails).size < new Set(dirs.map((d) => d.join('/'))).size) continue;
      members.forEach((i, j) => { out[i] = [out[i], tails[j]].filter(Boolean).join('/'); });
      break;
    }
  }
  return out;
}

/** A picture extension a name pattern may end with (replaced by the format's). */
const PICTURE_EXTENSION = /\.(png|jpe?g|webp)$/i;

/**
 * Checks a name pattern: placeholders {name} (the photo's file name without extension) and {class}
 * (the drawn class); no folder separators. The picture's extension follows `format`: a pattern
 * ending in .png, .jpg, .jpeg or .webp has it replaced, any other gets it appended.
 * @returns the pattern to use. @throws with a message naming the problem.
 */
export function checkNamePattern(pattern: string, format: PictureFormat = 'png'): string {
  const problem = namePatternProblem(pattern);
  if (problem !== undefined) throw new Error(problem);
  return `${pattern.replace(PICTURE_EXTENSION, '')}${PICTURE_EXTENSIONS[format]}`;
}

/**
 * The n-th candidate file names of a photo's outputs: n = 1 is the plain pattern, n ≥ 2 adds "-n"
 * to the name (after {name}, or before the extension when the pattern has no {name}); the scores JSON
 * and grid follow the same suffix: "<name>-n.scores.json", "<name>-n.scores.npy".
 */
export function outputNames(pattern: string, name: string, className: string, n: number): { png: string; json: string; npy: string } {
  const suffix = n > 1 ? `-${n}` : '';
  const safeName = safeFilePart(name);
  const cls = safeFilePart(className);
  let png = pattern.includes('{name}')
    ? pattern.replaceAll('{name}', safeName + suffix).replaceAll('{class}', cls)
    : pattern.replaceAll('{class}', cls).replace(PICTURE_EXTENSION, `${suffix}$&`);
  if (png.startsWith('.')) png = `_${png}`;
  return { png, json: `${safeName}${suffix}.scores.json`, npy: `${safeName}${suffix}.scores.npy` };
}

async function exists(file: string): Promise<boolean> {
  return fs.lstat(file).then(() => true, () => false);
}

/**
 * Writes `data` to `file` only if no file has that name: to a temporary name first, then
 * hard-linked into place (atomic, fails when the name is taken), falling back to check-then-rename
 * on file systems without hard links.
 * @returns false when the name was taken (nothing written), true when written.
 * @throws on write errors (permissions, full disk) — no temporary file is left behind.
 */
export async function writeFileNoClobber(file: string, data: FileData): Promise<boolean> {
  const tmp = tempName(file);
  try {
    await writeData(tmp, data, 'wx');
    return await linkNoClobber(tmp, file);
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/** A photo's files, by kind; absent kinds are not written. */
export interface PhotoFiles<T> {
  png: T;
  json?: T;
  npy?: T;
}

export interface ExportFilesOptions {
  outDir: string;
  /** Photo name without extension ({name}). */
  name: string;
  /** Drawn class ({class}). */
  className: string;
  /** Checked pattern (see checkNamePattern). */
  pattern: string;
  /** Replace existing files instead of adding a "-n" suffix. */
  overwrite: boolean;
  /** What each file holds (a function for streamed data: it is called once per attempt). */
  data: PhotoFiles<FileData>;
  /** Names handed out in this batch but maybe not written yet (shared by concurrent photos). */
  reserved: Set<string>;
  /** Told the names of an attempt before its files are written (a JSON that names the .npy beside it). */
  onNames?(files: PhotoFiles<string>): void;
}

const KINDS = ['png', 'json', 'npy'] as const;

/**
 * Writes a photo's files under the first n whose names are all free (see outputNames); with
 * `overwrite`, under the plain names, replacing what is there. Each file is atomic; the PNG is
 * written last, so a PNG under its final name means its photo's outputs are complete.
 * @returns the paths written. @throws OutputError.
 */
export async function exportPhotoFiles(opts: ExportFilesOptions): Promise<PhotoFiles<string>> {
  const { outDir, reserved } = opts;
  const kinds = KINDS.filter((k) => opts.data[k] !== undefined);
  const order = [...kinds.filter((k) => k !== 'png'), 'png' as const];
  for (let n = 1; n < 100_000; n++) {
    const names = outputNames(opts.pattern, opts.name, opts.className, n);
    const files = Object.fromEntries(kinds.map((k) => [k, path.join(outDir, names[k])])) as unknown as PhotoFiles<string>;
    const mine = kinds.map((k) => files[k] as string);
    if (mine.some((f) => reserved.has(f))) continue;
    if (!opts.overwrite && (await Promise.all(mine.map(exists))).some(Boolean)) continue;
    if (mine.some((f) => reserved.has(f))) continue;
    const tooLong = mine.find((f) => Buffer.byteLength(path.basename(f), 'utf8') > NAME_MAX_BYTES);
    if (tooLong !== undefined) {
      const bytes = Buffer.byteLength(path.basename(tooLong), 'utf8');
      throw new OutputError(tooLong, Object.assign(new Error(`${bytes} bytes, over the ${NAME_MAX_BYTES} a file name may have; rename the photo or shorten --name`), { code: 'ENAMETOOLONG' }));
    }
    for (const f of mine) reserved.add(f);
    opts.onNames?.(files);
    const written: string[] = [];
    let taken = false;
    for (const k of order) {
      const file = files[k] as string;
      try {
        if (opts.overwrite) await writeFileAtomic(file, opts.data[k] as FileData);
        else if (!(await writeFileNoClobber(file, opts.data[k] as FileData))) taken = true;
      } catch (err) {
        await Promise.all(written.map((f) => fs.rm(f, { force: true })));
        throw new OutputError(file, err);
      }
      if (taken) break;
      written.push(file);
    }
    if (!taken) return files;
    // Taken meanwhile by another program: undo this attempt and try the next names.
    await Promise.all(written.map((f) => fs.rm(f, { force: true })));
  }
  throw new Error(`no free output name for ${opts.name} in ${outDir}`);
}
