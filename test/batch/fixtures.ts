/** Photos for the batch tests: digit scenes (real content for the built-in model) and bad files. */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { ScoreMap } from '../../core/scoremap';
import type { Engine } from '../../main/engine/engine';
import { makeDigitScene } from '../../main/digits/scene';

/** Writes a digit scene (white MNIST digits on black) as JPEG or PNG. */
export async function writeScene(file: string, seed: number, width = 240, height = 180): Promise<void> {
  const s = makeDigitScene({ width, height, count: 4, sizes: [28, 42], seed });
  const img = sharp(s.rgb, { raw: { width: s.width, height: s.height, channels: 3 } });
  await (file.endsWith('.png') ? img.png() : img.jpeg({ quality: 92 })).toFile(file);
}

/** Files left by interrupted writes: temporary names start with a dot and end with .tmp. */
export async function tempFiles(dir: string): Promise<string[]> {
  // Every hidden file but the batch journal (the record of completed photos that --resume reads).
  return (await fs.readdir(dir)).filter((f) => (f.endsWith('.tmp') || f.startsWith('.')) && f !== '.convmap-batch.jsonl');
}

/** A real engine wrapped to count (and optionally intercept) scoreMaps calls. */
export interface CountingEngine extends Pick<Engine, 'scoreMaps' | 'workers'> {
  calls: { width: number; height: number; scales: number[] }[];
}

export function countingEngine(engine: Engine, intercept?: (call: number) => Promise<ScoreMap[]> | undefined): CountingEngine {
  const calls: CountingEngine['calls'] = [];
  return {
    calls,
    workers: engine.workers,
    scoreMaps(handle, image, scales, preprocess, opts) {
      calls.push({ width: image.width, height: image.height, scales: [...scales] });
      return intercept?.(calls.length) ?? engine.scoreMaps(handle, image, scales, preprocess, opts);
    },
  };
}

/** Bad inputs: a truncated JPEG, a zero-byte file, text named .png. @returns their paths. */
export async function writeBadFiles(dir: string, goodJpeg: string): Promise<{ truncated: string; empty: string; text: string }> {
  const good = await fs.readFile(goodJpeg);
  const truncated = path.join(dir, 'c-truncated.jpg');
  const empty = path.join(dir, 'd-empty.png');
  const text = path.join(dir, 'e-text.png');
  await fs.writeFile(truncated, good.subarray(0, Math.floor(good.length / 2)));
  await fs.writeFile(empty, '');
  await fs.writeFile(text, 'this is text, not a PNG\n');
  return { truncated, empty, text };
}
