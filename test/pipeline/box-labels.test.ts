// Exported PNGs' box tags stay whole inside the photo (issue 12, item 11: labels were cut at the right edge).
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadGlyphs, svgTextPath } from '../../main/services/glyphs';
import { boxLayers } from '../../main/services/legend';

const W = 200;
const H = 100;

/** A white W×H photo with the layers composited by sharp itself (not by the app's blending), as grey levels of row `y`. */
async function rowAfter(layers: ReturnType<typeof boxLayers>, y: number): Promise<number[]> {
  const { data, info } = await sharp({ create: { width: W, height: H, channels: 3, background: '#ffffff' } })
    .composite(layers.map((l) => ({ input: Buffer.from(l.svg), left: l.left, top: l.top })))
    .raw().toBuffer({ resolveWithObject: true });
  return Array.from({ length: W }, (_, x) => data[(y * info.width + x) * info.channels]);
}

/** Width in pixels of the ink of `text` drawn alone at `font` px in the app's shipped font (sharp trims the white around it). */
async function inkWidth(text: string, font: number): Promise<number> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="400" height="40"><rect width="400" height="40" fill="#fff"/>`
    + `${svgTextPath(text, 10, 25, font, { fill: '#000' })}</svg>`;
  const { info } = await sharp(Buffer.from(svg)).trim().toBuffer({ resolveWithObject: true });
  return info.width;
}

describe('box tags on exported pictures', () => {
  beforeAll(() => loadGlyphs([]));

  it('a narrow box at the right edge gets its whole tag, moved left inside the photo', async () => {
    const label = 'a-long-label';
    const layers = boxLayers(W, H, [{ box: [10, 170, 60, 200], label, score: 0.93 }]);
    expect(layers).toHaveLength(1);
    // The tag's dark background over white, on a row inside the tag (font 9 px: the tag is 12 px high from y 10).
    const row = await rowAfter(layers, 12);
    const dark = row.map((v, x) => (v < 140 ? x : -1)).filter((x) => x >= 0);
    const need = await inkWidth(`${label} 0.93`, 9);
    expect(need).toBeGreaterThan(50);
    expect(dark.at(-1)).toBeLessThan(W);
    // The tag spans at least the text's ink, and the box's frame is still where the box is.
    expect(W - (dark[0] ?? W)).toBeGreaterThanOrEqual(need);
    expect(layers[0].left + layers[0].width).toBeLessThanOrEqual(W);
    const frame = await rowAfter(layers, 40);
    expect(frame.slice(0, 165).every((v) => v === 255)).toBe(true);
    expect(Math.min(...frame.slice(168, 174))).toBeLessThan(60);
  });

  it('a box in the middle keeps its tag at its own top-left corner', async () => {
    const layers = boxLayers(W, H, [{ box: [20, 40, 80, 140], label: 'cat', score: 0.5 }]);
    expect(layers[0].left).toBe(40);
    const row = await rowAfter(layers, 22);
    const dark = row.map((v, x) => (v < 140 ? x : -1)).filter((x) => x >= 0);
    expect(dark[0]).toBeGreaterThanOrEqual(40);
    expect(dark[0]).toBeLessThanOrEqual(42);
  });
});
