/**
 * Text in exported pictures renders every script (issue 20 item 5): legends and box tags are drawn
 * from fonts the app ships, so Korean, Chinese, Cyrillic and Arabic labels show their glyphs on a
 * machine without such fonts instead of tofu boxes (one identical rectangle per character).
 */
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { AveragedMap } from '../../core/average';
import { renderPicture } from '../../main/services/picture';

const W = 320;
const H = 200;
/** A photo whose legend text is 30 px (the legend's font is a fortieth of the shorter side). */
const BIG_W = 1600;
const BIG_H = 1200;

/** A one-cell map over the whole photo where class 0 wins: the class map's legend lists labels[0]. */
function oneClass(w: number, h: number): AveragedMap {
  return { rows: 1, cols: 1, classes: 2, scores: Float32Array.from([0.9, 0.1]), imageSize: [h, w], cellSize: [h, w], coverage: Uint8Array.from([1]), mode: 'max' };
}

/**
 * The exported picture's pixels with `label` as the winning class's name: in the class map's legend,
 * and (small pictures) in a box tag. The overlay is clear.
 */
async function pictureWith(label: string, w = W, h = H): Promise<Buffer> {
  const image = { width: w, height: h, channels: 3 as const, data: new Uint8Array(w * h * 3).fill(128) };
  const boxes = w === W;
  const png = await renderPicture({ image, averaged: oneClass(w, h), classIndex: 0, drawn: [{ classIndex: 0, score: 0.9, box: [20, 180, 90, 300], centre: [55, 240], mapIndex: 0, support: 1 }] },
    [label, 'other'], { view: 'classes', colormap: 'viridis', opacity: 0, threshold: 0.2, smooth: true, boxes, legend: true });
  return sharp(png).raw().toBuffer();
}

/** Pixels that differ between two pictures of the same size. */
function differing(a: Buffer, b: Buffer): number {
  let n = 0;
  for (let i = 0; i < a.length; i += 3) if (a[i] !== b[i] || a[i + 1] !== b[i + 1] || a[i + 2] !== b[i + 2]) n++;
  return n;
}

/** Which pixels of `a` differ from `b` by more than 40 levels in some channel (the ink of a label). */
function inkMask(a: Buffer, b: Buffer, width: number): { mask: Uint8Array; box: [number, number, number, number] | null } {
  const mask = new Uint8Array(a.length / 3);
  let box: [number, number, number, number] | null = null;
  for (let p = 0; p < mask.length; p++) {
    const d = Math.max(Math.abs(a[p * 3] - b[p * 3]), Math.abs(a[p * 3 + 1] - b[p * 3 + 1]), Math.abs(a[p * 3 + 2] - b[p * 3 + 2]));
    if (d <= 40) continue;
    mask[p] = 1;
    const y = Math.floor(p / width);
    const x = p % width;
    box = box ? [Math.min(box[0], y), Math.min(box[1], x), Math.max(box[2], y), Math.max(box[3], x)] : [y, x, y, x];
  }
  return { mask, box };
}

/**
 * A tofu box: ink whose bounding box has all four sides drawn (each at least 80 % inked), as the
 * rectangle librsvg/Pango draws for a character no font has. A glyph such as 이 or 양 leaves them open.
 */
function isTofu(ink: ReturnType<typeof inkMask>, width: number): boolean {
  if (!ink.box) return false;
  const [y0, x0, y1, x1] = ink.box;
  const row = (y: number): number => { let n = 0; for (let x = x0; x <= x1; x++) n += ink.mask[y * width + x]; return n / (x1 - x0 + 1); };
  const col = (x: number): number => { let n = 0; for (let y = y0; y <= y1; y++) n += ink.mask[y * width + x]; return n / (y1 - y0 + 1); };
  // The outermost line may be anti-aliased into the next pixel: the better of the two counts.
  return Math.max(row(y0), row(y0 + 1)) >= 0.8 && Math.max(row(y1), row(y1 - 1)) >= 0.8 && Math.max(col(x0), col(x0 + 1)) >= 0.8 && Math.max(col(x1), col(x1 - 1)) >= 0.8;
}

describe('labels in every script', () => {
  it('draws Korean syllables as glyphs, not tofu boxes (PNG pixels)', async () => {
    // The detector itself, on what the machine's fonts draw for a character none of them has.
    const old = (ch: string): Promise<Buffer> => sharp(Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${BIG_W}" height="80"><rect width="${BIG_W}" height="80" fill="#000"/>`
      + `<text x="10" y="50" font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif" font-size="40" fill="#fff">${ch}</text></svg>`)).removeAlpha().raw().toBuffer();
    expect(isTofu(inkMask(await old('\uE000'), await old(' '), BIG_W), BIG_W)).toBe(true);

    const blank = await pictureWith(' ', BIG_W, BIG_H);
    for (const syllable of ['이', '양', '고', '플', '병']) {
      const ink = inkMask(await pictureWith(syllable, BIG_W, BIG_H), blank, BIG_W);
      expect(ink.box, syllable).not.toBeNull();
      const [y0, x0, y1, x1] = ink.box as [number, number, number, number];
      // A glyph of the legend's size (30 px font), not a speck.
      expect(y1 - y0, syllable).toBeGreaterThan(12);
      expect(x1 - x0, syllable).toBeGreaterThan(12);
      expect(isTofu(ink, BIG_W), syllable).toBe(false);
    }
    // And the shipped fonts' own tofu (.notdef, for a private-use character) is told apart too.
    expect(isTofu(inkMask(await pictureWith('\uE000', BIG_W, BIG_H), blank, BIG_W), BIG_W)).toBe(true);
  });

  it.each([['Cyrillic', 'кошка', 'акшок'], ['Arabic', 'قطة', 'ةطق'], ['Chinese', '猫狗', '狗猫'], ['Latin', 'cat', 'tac']])('draws %s glyphs', async (_script, label, reversed) => {
    const a = await pictureWith(label);
    const blank = await pictureWith(' '.repeat([...label].length));
    expect(differing(a, blank)).toBeGreaterThan(40);
    expect(differing(a, await pictureWith(reversed))).toBeGreaterThan(20);
    expect(differing(a, await pictureWith('\uE000'.repeat([...label].length)))).toBeGreaterThan(20);
  });
});
