/**
 * Export of one photo: the overlay PNG (photo upright at full size, heatmap of one class, optional
 * detection boxes and legend), its scores JSON, file names from a pattern, and writing without ever
 * overwriting silently. Every file is written to a temporary name in the output folder and then
 * renamed (or hard-linked, for no-clobber), so a crash or a full disk leaves no half-written file.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { defaultClasses, detect, type Detection } from '../../core/detect';
import type { ConvertedModelInfo } from '../../core/model-info';
import { writeFileAtomic } from './atomic';
import { ANY_CLASS, classLabel, overlayPhoto, type OverlayStyle, type PhotoResult } from './heatmap';
import { boxLayers, legendLayer } from './legend';

export const DEFAULT_NAME_PATTERN = '{name}.heatmap.png';

export interface ExportStyle extends OverlayStyle {
  /** Draw detection boxes (of the drawn class; of every class but background for 'any'). */
  boxes: boolean;
  /** Draw the legend: class name and the colormap's scale bar. */
  legend: boolean;
  /** Peaks at or above this score become detections (boxes, CSV, JSON). Default 0.5. */
  detectThreshold?: number;
}

/** Detections of a photo (all classes but background), as the CLI and the scores JSON report them. */
export function photoDetections(result: PhotoResult, info: Pick<ConvertedModelInfo, 'labels'>, threshold = 0.5): Detection[] {
  if (result.maps.every((m) => m.rows === 0 || m.cols === 0)) return [];
  return detect(result.maps, { threshold, labels: info.labels, mode: 'max' });
}

/** The overlay PNG of one photo, encoded. */
export async function renderExportPng(result: PhotoResult, info: Pick<ConvertedModelInfo, 'labels'>, style: ExportStyle, detections: readonly Detection[]): Promise<Buffer> {
  const { width, height } = result.image;
  const rgb = overlayPhoto(result, info.labels, style);
  const layers: { input: Buffer; left: number; top: number }[] = [];
  if (style.boxes) {
    const drawn = result.classIndex === ANY_CLASS ? new Set(defaultClasses(result.averaged.classes, info.labels)) : new Set([result.classIndex]);
    const boxes = detections.filter((d) => drawn.has(d.classIndex)).slice(0, 200)
      .map((d) => ({ box: d.box, label: info.labels[d.classIndex] ?? String(d.classIndex), score: d.score }));
    for (const l of boxLayers(width, height, boxes)) layers.push({ input: Buffer.from(l.svg), left: l.left, top: l.top });
  }
  if (style.legend) {
    const l = legendLayer(width, height, { label: classLabel(info.labels, result.classIndex), colormap: style.colormap, threshold: style.threshold });
    if (l) layers.push({ input: Buffer.from(l.svg), left: l.left, top: l.top });
  }
  const img = sharp(rgb, { raw: { width, height, channels: 3 }, limitInputPixels: false });
  if (layers.length === 0) return img.png().toBuffer();
  // Composite makes the output RGBA; a second pass drops the (opaque) alpha so every export is RGB.
  const { data, info: raw } = await img.composite(layers).raw().toBuffer({ resolveWithObject: true });
  return sharp(data, { raw: { width: raw.width, height: raw.height, channels: raw.channels }, limitInputPixels: false }).removeAlpha().png().toBuffer();
}

const FORBIDDEN = /[/\\:*?"<>|\x00-\x1f]/g;

/** A class label or photo name made safe as part of a file name. */
export function safeFilePart(s: string): string {
  const t = s.replace(FORBIDDEN, '_').trim();
  return t === '' || t === '.' || t === '..' ? '_' : t;
}

/**
 * Checks a name pattern: placeholders {name} (the photo's file name without extension) and {class}
 * (the drawn class); no folder separators; ".png" is appended when missing.
 * @returns the pattern to use. @throws with a message naming the problem.
 */
export function checkNamePattern(pattern: string): string {
  if (pattern.trim() === '') throw new Error('--name pattern is empty');
  if (/[/\\]/.test(pattern)) throw new Error(`--name pattern "${pattern}" must not contain folder separators (outputs go into --out)`);
  const unknown = pattern.match(/\{[^}]*\}/g)?.filter((p) => p !== '{name}' && p !== '{class}');
  if (unknown && unknown.length > 0) throw new Error(`--name pattern "${pattern}": unknown placeholder ${unknown[0]} (use {name} and {class})`);
  return /\.png$/i.test(pattern) ? pattern : `${pattern}.png`;
}

/**
 * The n-th candidate file names of a photo's outputs: n = 1 is the plain pattern, n ≥ 2 adds "-n"
 * to the name (after {name}, or before ".png" when the pattern has no {name}); the scores JSON
 * follows the same suffix: "<name>-n.scores.json".
 */
export function outputNames(pattern: string, name: string, className: string, n: number): { png: string; json: string } {
  const suffix = n > 1 ? `-${n}` : '';
  const safeName = safeFilePart(name);
  const cls = safeFilePart(className);
  let png = pattern.includes('{name}')
    ? pattern.replaceAll('{name}', safeName + suffix).replaceAll('{class}', cls)
    : pattern.replaceAll('{class}', cls).replace(/\.png$/i, `${suffix}.png`);
  if (png.startsWith('.')) png = `_${png}`;
  return { png, json: `${safeName}${suffix}.scores.json` };
}

let tmpCounter = 0;

function tempName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${++tmpCounter}.tmp`);
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
export async function writeFileNoClobber(file: string, data: string | Uint8Array): Promise<boolean> {
  const tmp = tempName(file);
  try {
    await fs.writeFile(tmp, data);
    try {
      await fs.link(tmp, file);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS' && code !== 'EXDEV') throw err;
      if (await exists(file)) return false;
      await fs.rename(tmp, file);
      return true;
    }
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/** Error writing into the output folder; the message names the file and the reason. */
export class OutputError extends Error {
  constructor(readonly file: string, cause: unknown) {
    const e = cause as NodeJS.ErrnoException;
    const why = e?.code === 'EACCES' || e?.code === 'EPERM' || e?.code === 'EROFS' ? 'the output folder is not writable'
      : e?.code === 'ENOSPC' ? 'the disk is full'
        : e?.code === 'ENOTDIR' ? 'a path component is not a folder'
          : 'write failed';
    super(`cannot write ${file}: ${why} (${e instanceof Error ? e.message : String(cause)})`, { cause });
    this.name = 'OutputError';
  }
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
  png: Uint8Array;
  /** The scores JSON text, when wanted. */
  json?: string;
  /** Names handed out in this batch but maybe not written yet (shared by concurrent photos). */
  reserved: Set<string>;
}

/**
 * Writes a photo's PNG (and JSON) under the first free pair of names (see outputNames); with
 * `overwrite`, under the plain names, replacing what is there. Both atomic.
 * @returns the paths written. @throws OutputError.
 */
export async function exportPhotoFiles(opts: ExportFilesOptions): Promise<{ png: string; json?: string }> {
  const { outDir, reserved } = opts;
  for (let n = 1; n < 100_000; n++) {
    const names = outputNames(opts.pattern, opts.name, opts.className, n);
    const png = path.join(outDir, names.png);
    const json = opts.json !== undefined ? path.join(outDir, names.json) : undefined;
    const mine = [png, ...(json ? [json] : [])];
    if (mine.some((f) => reserved.has(f))) continue;
    if (!opts.overwrite && (await Promise.all(mine.map(exists))).some(Boolean)) continue;
    if (mine.some((f) => reserved.has(f))) continue;
    for (const f of mine) reserved.add(f);
    if (opts.overwrite) {
      try {
        await writeFileAtomic(png, opts.png);
      } catch (err) {
        throw new OutputError(png, err);
      }
      if (json) {
        try {
          await writeFileAtomic(json, opts.json as string);
        } catch (err) {
          throw new OutputError(json, err);
        }
      }
      return { png, json };
    }
    let ok: boolean;
    try {
      ok = await writeFileNoClobber(png, opts.png);
    } catch (err) {
      throw new OutputError(png, err);
    }
    if (!ok) continue; // taken meanwhile by another program: next name
    if (json) {
      try {
        // The JSON name was free a moment ago; if something took it since, fall back to a name of its own.
        if (!(await writeFileNoClobber(json, opts.json as string))) {
          const alt = path.join(outDir, `${path.basename(png, '.png')}.scores.json`);
          if (!(await writeFileNoClobber(alt, opts.json as string))) throw Object.assign(new Error('name taken'), { code: 'EEXIST' });
          return { png, json: alt };
        }
      } catch (err) {
        throw new OutputError(json, err);
      }
    }
    return { png, json };
  }
  throw new Error(`no free output name for ${opts.name} in ${outDir}`);
}

/**
 * Checks that files can be created in the output folder (creating it if needed) by writing and
 * removing a probe file.
 * @throws OutputError naming the folder: "cannot write <dir>: the output folder is not writable (…)".
 */
export async function checkOutputFolder(outDir: string): Promise<void> {
  try {
    await fs.mkdir(outDir, { recursive: true });
    const probe = tempName(path.join(outDir, 'convmap-write-check'));
    await fs.writeFile(probe, '');
    await fs.rm(probe, { force: true });
  } catch (err) {
    throw new OutputError(outDir, err);
  }
}

/** One CSV field (RFC 4180 quoting when needed). */
export function csvField(v: string | number | undefined): string {
  if (v === undefined) return '';
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(Math.round(v * 1e6) / 1e6) : '') : v;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvLine(values: (string | number | undefined)[]): string {
  return values.map(csvField).join(',') + '\n';
}

/** Writes a whole file under `file` or, when taken and not `overwrite`, "<stem>-n<ext>". @returns the path written. */
export async function writeNewFile(file: string, data: string | Uint8Array, overwrite: boolean): Promise<string> {
  const ext = path.extname(file);
  const stem = file.slice(0, file.length - ext.length);
  for (let n = 1; n < 100_000; n++) {
    const f = n === 1 ? file : `${stem}-${n}${ext}`;
    try {
      if (overwrite) {
        await writeFileAtomic(f, data);
        return f;
      }
      if (await writeFileNoClobber(f, data)) return f;
    } catch (err) {
      throw new OutputError(f, err);
    }
  }
  throw new Error(`no free name for ${file}`);
}
