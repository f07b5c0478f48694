/**
 * Bench cases of issue 21, from double-click to picture: opening a Teachable Machine model through
 * the app service (the window's call), and whole `convmap heatmap` processes on one 1 MP photo from a
 * Teachable Machine folder and from a converted folder, and on 100 such photos; one 384² photo from a
 * converted VGG16 folder. Each case runs its
 * sides interleaved (A B A B …) and reports min and median: other work on the machine hits both.
 */
import { execFile } from 'node:child_process';
import { existsSync, promises as fs, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { median } from './timing';
import { SHAPED_TEXT_FILE } from '../../main/services/glyphs';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');

let compiled: Promise<string> | undefined;

/**
 * The command line's entry, compiled from the sources as they are into a folder of this bench's own
 * (scripts/build-cli.mjs --out), once per bench process. bin/convmap.mjs runs dist/ only while dist/
 * is newer than every source and TypeScript through tsx otherwise: in a tree being edited it measured
 * tsx's start-up (2–3 s) instead of Convmap's. Not measured so: bin/convmap.mjs's own check (it
 * stats every source file, a few ms).
 */
function cli(): Promise<string> {
  compiled ??= (async () => {
    const out = path.join(repo, 'tmp', `bench-cli-${process.pid}`);
    await run(process.execPath, [path.join(repo, 'scripts/build-cli.mjs'), '--out', out], { cwd: repo });
    process.once('exit', () => rmSync(out, { recursive: true, force: true }));
    return path.join(out, 'main', 'cli', 'index.js');
  })();
  return compiled;
}
const TM_MODEL = path.resolve(repo, '../shared/corpus/models/teachablemachine_korean5_00sky0213');
const PHOTO_SOURCE = path.resolve(repo, '../shared/corpus/images/skimage_chelsea.png');
const WORK = path.join(os.tmpdir(), 'convmap-bench-open');

function stats(ms: number[]): { minMs: number; medianMs: number; runsMs: number[] } {
  return { minMs: Math.round(Math.min(...ms)), medianMs: Math.round(median(ms)), runsMs: ms.map(Math.round) };
}

/** Runs `sides` interleaved, `runs` rounds: each side's wall-clock milliseconds. */
async function interleaved(runs: number, sides: Record<string, () => Promise<unknown>>): Promise<Record<string, ReturnType<typeof stats>>> {
  const ms: Record<string, number[]> = Object.fromEntries(Object.keys(sides).map((k) => [k, []]));
  for (let r = 0; r < runs; r++) {
    for (const [name, f] of Object.entries(sides)) {
      const t0 = performance.now();
      await f();
      ms[name].push(performance.now() - t0);
    }
  }
  return Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, stats(v)]));
}

function missing(name: string): Record<string, unknown> | undefined {
  if (!existsSync(TM_MODEL) || !existsSync(PHOTO_SOURCE)) return { case: name, skipped: 'the shared corpus (../shared/corpus) is not here' };
  return undefined;
}

/** `count` 1 MP photos (1155×866, JPEG) cut from the corpus's cat, each scaled a little more than the one before. */
async function photos(count: number): Promise<string[]> {
  const dir = path.join(WORK, `photos-${count}`);
  await fs.mkdir(dir, { recursive: true });
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const file = path.join(dir, `photo-${String(i).padStart(3, '0')}.jpg`);
    if (!existsSync(file)) {
      // Each at its own scale, so no two are alike (the score cache would answer for a repeat).
      await sharp(PHOTO_SOURCE).resize(1155 + i, 866 + i, { fit: 'cover' }).extract({ left: Math.floor(i / 2), top: Math.floor(i / 2), width: 1155, height: 866 }).jpeg({ quality: 90 }).toFile(file);
    }
    out.push(file);
  }
  return out;
}

/** The Teachable Machine model converted with `convmap convert -o` (once). */
async function convertedFolder(): Promise<string> {
  const dir = path.join(WORK, 'tm-converted');
  if (!existsSync(path.join(dir, 'model.onnx'))) await run(process.execPath, [await cli(), 'convert', TM_MODEL, '-o', dir], { cwd: repo, maxBuffer: 1 << 24 });
  return dir;
}

/**
 * One whole `convmap heatmap` process; the score cache is emptied first, so the photo is computed.
 * @param opts.fonts the legend's shaped lines kept by earlier runs are removed first (main/services/glyphs
 *   SHAPED_TEXT_FILE), so the run loads fontkit and the fonts as a first run does.
 */
async function heatmapProcess(model: string, inputs: string[], cacheDir: string | undefined, flags: readonly string[] = [], opts: { fonts?: boolean } = {}): Promise<void> {
  const out = await fs.mkdtemp(path.join(WORK, 'out-'));
  try {
    if (cacheDir !== undefined) await fs.rm(path.join(cacheDir, 'scores-v1'), { recursive: true, force: true });
    if (cacheDir !== undefined && opts.fonts === true) await fs.rm(path.join(cacheDir, SHAPED_TEXT_FILE), { force: true });
    const cache = cacheDir === undefined ? ['--no-cache'] : ['--cache-dir', cacheDir];
    await run(process.execPath, [await cli(), 'heatmap', model, ...inputs, '--out', out, '--quiet', ...cache, ...flags], { cwd: repo, maxBuffer: 1 << 24 });
  } finally {
    await fs.rm(out, { recursive: true, force: true });
  }
}

/**
 * open-tm-service: the app service's loadModel of a Teachable Machine model (the window's open),
 * first open (empty caches: conversion and crop check in the conversion worker) and second open (a
 * fresh service, the same cache folder), interleaved.
 */
export async function openTmService(runs: number): Promise<Record<string, unknown>> {
  const skip = missing('open-tm-service');
  if (skip) return skip;
  const { createAppService } = await import('../../main/services/window/app-service');
  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-bench-service-'));
  let n = 0;
  const open = async (cacheDir: string): Promise<void> => {
    const service = await createAppService({ userDataDir: path.join(base, `user-${++n}`), cacheDir });
    try {
      await service.loadModel({ path: TM_MODEL });
    } finally {
      await service.close();
    }
  };
  const warm = path.join(base, 'warm-cache');
  try {
    await open(warm);
    const result = await interleaved(runs, {
      first: () => open(path.join(base, `cold-${n}`)),
      second: () => open(warm),
    });
    return { case: 'open-tm-service', model: path.basename(TM_MODEL), runs, firstOpen: result.first, secondOpen: result.second, target: { firstOpenMs: 3000 } };
  } finally {
    await fs.rm(base, { recursive: true, force: true });
  }
}

/**
 * heatmap-1mp: whole CLI processes on one 1 MP photo, interleaved: from the Teachable Machine folder
 * (model cache warm: the second run of that folder; and --no-cache: every run converts) and from its
 * converted folder (model cache warm), and from the converted folder at one scale (--scales 1): the
 * process's own start-up and ending apart from the default plan's photo work (7 scales here); and
 * from the converted folder without the legend's lines shaped by earlier runs (fontkit and the fonts load).
 */
export async function heatmapOnePhoto(runs: number): Promise<Record<string, unknown>> {
  const skip = missing('heatmap-1mp');
  if (skip) return skip;
  const [photo] = await photos(1);
  const converted = await convertedFolder();
  const cache = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-bench-cache-'));
  try {
    await heatmapProcess(TM_MODEL, [photo], cache);
    await heatmapProcess(converted, [photo], cache);
    const result = await interleaved(runs, {
      tmSecondRun: () => heatmapProcess(TM_MODEL, [photo], cache),
      convertedFolder: () => heatmapProcess(converted, [photo], cache),
      tmNoCache: () => heatmapProcess(TM_MODEL, [photo], undefined),
      convertedNoCache: () => heatmapProcess(converted, [photo], undefined),
      convertedOneScale: () => heatmapProcess(converted, [photo], cache, ['--scales', '1']),
      convertedLoadingFonts: () => heatmapProcess(converted, [photo], cache, [], { fonts: true }),
    });
    return { case: 'heatmap-1mp', photo: '1155×866 JPEG', runs, ...result, target: { tmSecondRunMs: 1000, convertedFolderMs: 600 } };
  } finally {
    await fs.rm(cache, { recursive: true, force: true });
  }
}

/**
 * heatmap-vgg16-384: whole `convmap heatmap` processes on one 384×384 photo from a converted VGG16
 * folder (the classifier with random weights as a tfjs folder, bench case save-vgg16-folder, then
 * `convmap convert -o` as a user would), interleaved: the second run (model cache warm: ONNX
 * Runtime's optimised file), the same with --no-cache (ONNX Runtime optimises the 528 MB graph
 * again), and one scale (--scales 1). Also reports the default plan's scales for this photo.
 * @param classifierDir the classifier's tfjs folder; `save` writes it when it is missing.
 */
export async function heatmapVgg16(runs: number, classifierDir: string, save: () => Promise<void>): Promise<Record<string, unknown>> {
  if (!existsSync(PHOTO_SOURCE)) return { case: 'heatmap-vgg16-384', skipped: 'the shared corpus (../shared/corpus) is not here' };
  if (!existsSync(path.join(classifierDir, 'model.json'))) await save();
  const converted = path.join(WORK, 'vgg16-converted-v2');
  if (!existsSync(path.join(converted, 'model.onnx'))) await run(process.execPath, [await cli(), 'convert', classifierDir, '-o', converted], { cwd: repo, maxBuffer: 1 << 24 });
  const photo = path.join(WORK, 'photo-384.jpg');
  if (!existsSync(photo)) await sharp(PHOTO_SOURCE).resize(384, 384, { fit: 'cover' }).jpeg({ quality: 90 }).toFile(photo);
  const cache = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-bench-cache-'));
  try {
    const out = await fs.mkdtemp(path.join(WORK, 'out-'));
    const first = await run(process.execPath, [await cli(), 'heatmap', converted, photo, '--out', out, '--json', '--cache-dir', cache], { cwd: repo, maxBuffer: 1 << 24 });
    await fs.rm(out, { recursive: true, force: true });
    const line = JSON.parse(first.stdout.split('\n').find((l) => l.includes('"photo"')) ?? '{}') as { scales?: number[]; scalePlan?: string };
    const result = await interleaved(runs, {
      secondRun: () => heatmapProcess(converted, [photo], cache),
      noCache: () => heatmapProcess(converted, [photo], undefined),
      oneScale: () => heatmapProcess(converted, [photo], cache, ['--scales', '1']),
    });
    return { case: 'heatmap-vgg16-384', photo: '384×384 JPEG', defaultPlan: { scales: line.scales, plan: line.scalePlan }, runs, ...result, target: { secondRunMs: 3000 } };
  } finally {
    await fs.rm(cache, { recursive: true, force: true });
  }
}

/** batch-100-1mp: one `convmap heatmap` process over 100 photos of 1 MP from the converted folder, wall clock. */
export async function batchHundred(runs: number): Promise<Record<string, unknown>> {
  const skip = missing('batch-100-1mp');
  if (skip) return skip;
  const list = await photos(100);
  const converted = await convertedFolder();
  const cache = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-bench-cache-'));
  try {
    await heatmapProcess(converted, list.slice(0, 1), cache);
    const result = await interleaved(runs, { batch: () => heatmapProcess(converted, [path.dirname(list[0])], cache) });
    return { case: 'batch-100-1mp', photos: list.length, runs, ...result.batch, target: { medianMs: 12000 } };
  } finally {
    await fs.rm(cache, { recursive: true, force: true });
  }
}
