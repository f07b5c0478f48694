/**
 * The legend's shaped lines kept between runs (main/services/glyphs keepShapedText, issue 21): a run
 * that draws the same lines reads their outlines from the file instead of loading fontkit and the
 * fonts, and draws the same picture. Each "run" is a fresh instance of the modules (vi.resetModules);
 * the oracle is the picture drawn from the fonts by an instance that keeps nothing.
 */
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { AveragedMap } from '../../core/average';

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-shaped-'));
afterAll(() => fs.rm(dir, { recursive: true, force: true }));

const LABELS = ['고양이', 'собака', 'bird'];

/** A one-cell map where class 0 wins: the class map's legend names LABELS[0]. */
function oneClass(w: number, h: number): AveragedMap {
  return { rows: 1, cols: 1, classes: 3, scores: Float32Array.from([0.9, 0.05, 0.05]), imageSize: [h, w], cellSize: [h, w], coverage: Uint8Array.from([1]), mode: 'max' };
}

/**
 * One run: fresh modules, the shaped lines kept in `file` (none when undefined), a picture of w×h with
 * the legend and a box tag, then the lines saved. @returns the PNG's bytes.
 */
async function run(file: string | undefined, w = 320, h = 200): Promise<Buffer> {
  vi.resetModules();
  const glyphs = await import('../../main/services/glyphs');
  const { renderPicture } = await import('../../main/services/picture');
  if (file !== undefined) glyphs.keepShapedText(file);
  const image = { width: w, height: h, channels: 3 as const, data: new Uint8Array(w * h * 3).fill(128) };
  const png = await renderPicture({ image, averaged: oneClass(w, h), classIndex: 0, drawn: [{ classIndex: 0, score: 0.9, box: [20, 180, 90, 300], centre: [55, 240], mapIndex: 0, support: 1 }] },
    LABELS, { view: 'classes', colormap: 'viridis', opacity: 0, threshold: 0.2, smooth: true, boxes: true, legend: true });
  await glyphs.saveShapedText();
  return png;
}

interface Kept { version: string; lines: [string, string, number][] }

async function rewrite(from: string, to: string, change: (k: Kept) => Kept): Promise<void> {
  await fs.writeFile(to, JSON.stringify(change(JSON.parse(await fs.readFile(from, 'utf8')) as Kept)));
}

describe('shaped lines kept between runs', () => {
  it('a second run draws the same picture from the kept lines, and reads them from the file', async () => {
    const fromFonts = await run(undefined);
    const file = path.join(dir, 'a', 'shaped.json');
    expect(await run(file)).toEqual(fromFonts);
    const kept = JSON.parse(await fs.readFile(file, 'utf8')) as Kept;
    const texts = kept.lines.map(([key]) => key.slice(key.indexOf('\u0000') + 1));
    expect(texts).toContain(LABELS[0]);
    expect(await run(file)).toEqual(fromFonts);

    // Every kept outline replaced by a square: the picture shows squares, so the lines came from the file.
    const squares = path.join(dir, 'squares.json');
    await rewrite(file, squares, (k) => ({ ...k, lines: k.lines.map(([key, , width]) => [key, 'M0 -10L10 -10L10 0L0 0Z', width]) }));
    expect(await run(squares)).not.toEqual(fromFonts);
    // A file of another fontkit or font version, or with anything but path data in an outline, is not used.
    const other = path.join(dir, 'other.json');
    await rewrite(squares, other, (k) => ({ ...k, version: k.version.replace('fontkit@', 'fontkit@0.') }));
    expect(await run(other)).toEqual(fromFonts);
    const markup = path.join(dir, 'markup.json');
    await rewrite(file, markup, (k) => ({ ...k, lines: k.lines.map(([key, , width]) => [key, 'M0 0Z"/><rect width="999" height="999" fill="red', width]) }));
    expect(await run(markup)).toEqual(fromFonts);
    await fs.writeFile(markup, '{"version": ');
    expect(await run(markup)).toEqual(fromFonts);
  });

  it('a line at a size the file lacks is shaped from the fonts, read then', async () => {
    const file = path.join(dir, 'b.json');
    await run(file, 320, 200);
    // The legend's text is a fortieth of the shorter side: 30 px here, 10 px in the kept run.
    const fromFonts = await run(undefined, 1600, 1200);
    expect(await run(file, 1600, 1200)).toEqual(fromFonts);
    const kept = JSON.parse(await fs.readFile(file, 'utf8')) as Kept;
    expect(kept.lines.some(([key]) => key.startsWith('30\u0000'))).toBe(true);
  });

  it('writes nothing when nothing was shaped, and nothing without keepShapedText', async () => {
    const file = path.join(dir, 'c.json');
    vi.resetModules();
    const glyphs = await import('../../main/services/glyphs');
    glyphs.keepShapedText(file);
    await glyphs.saveShapedText();
    expect(existsSync(file)).toBe(false);
  });
});
