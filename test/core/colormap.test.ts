import * as d3 from 'd3-scale-chromatic';
import { describe, expect, it } from 'vitest';
import { COLORMAPS, colormapCss, colormapLut, isColormapName, parseCssColour, type ColormapName } from '../../core/colormap';

const d3Of: Record<ColormapName, (t: number) => string> = {
  viridis: d3.interpolateViridis,
  inferno: d3.interpolateInferno,
  magma: d3.interpolateMagma,
  plasma: d3.interpolatePlasma,
  turbo: d3.interpolateTurbo,
  cividis: d3.interpolateCividis,
  greys: d3.interpolateGreys,
  rdylbu: (t) => d3.interpolateRdYlBu(1 - t),
};

describe('colormapLut', () => {
  it('offers at least the required maps', () => {
    expect(COLORMAPS).toEqual(expect.arrayContaining(['viridis', 'inferno', 'magma', 'plasma', 'turbo', 'cividis', 'greys']));
    expect(Object.keys(d3Of).sort()).toEqual([...COLORMAPS].sort());
  });

  it.each(COLORMAPS.map((name) => ({ name })))('$name: entries 0, 128 of 257 and 256 are d3’s colours at 0, 0.5, 1', ({ name }) => {
    const lut = colormapLut(name, 257);
    expect(lut).toHaveLength(257 * 3);
    for (const [i, t] of [[0, 0], [128, 0.5], [256, 1]]) {
      expect(Array.from(lut.subarray(i * 3, i * 3 + 3))).toEqual(parseCssColour(d3Of[name](t)));
      expect(colormapCss(name, t)).toBe(d3Of[name](t));
    }
  });

  it('matches published endpoints (viridis #440154 → #fde725; greys white → black; rdylbu blue → red)', () => {
    const v = colormapLut('viridis');
    expect(Array.from(v.subarray(0, 3))).toEqual([0x44, 0x01, 0x54]);
    expect(Array.from(v.subarray(255 * 3))).toEqual([0xfd, 0xe7, 0x25]);
    const g = colormapLut('greys');
    expect(Array.from(g.subarray(0, 3))).toEqual([255, 255, 255]);
    expect(Array.from(g.subarray(255 * 3))).toEqual([0, 0, 0]);
    const r = colormapLut('rdylbu');
    expect(r[0 + 2]).toBeGreaterThan(r[0]); // low end blue
    expect(r[255 * 3]).toBeGreaterThan(r[255 * 3 + 2]); // high end red
  });

  it('returns an independent copy each time', () => {
    const a = colormapLut('magma', 4);
    a.fill(7);
    expect(Array.from(colormapLut('magma', 4).subarray(0, 3))).toEqual(parseCssColour(d3.interpolateMagma(0)));
  });

  it('rejects bad names and sizes', () => {
    expect(() => colormapLut('jet' as ColormapName)).toThrow(/unknown colormap/);
    expect(() => colormapLut('viridis', 0)).toThrow(/positive/);
    expect(() => colormapLut('viridis', 2.5)).toThrow(/positive/);
  });
});

describe('isColormapName', () => {
  it.each([
    { x: 'viridis', ok: true },
    { x: 'turbo', ok: true },
    { x: 'Viridis', ok: false },
    { x: 'jet', ok: false },
    { x: 3, ok: false },
    { x: undefined, ok: false },
  ])('$x → $ok', ({ x, ok }) => {
    expect(isColormapName(x)).toBe(ok);
  });
});

describe('parseCssColour', () => {
  it.each([
    { css: 'rgb(12, 34, 255)', rgb: [12, 34, 255] },
    { css: '#440154', rgb: [0x44, 0x01, 0x54] },
    { css: '#fff', rgb: [255, 255, 255] },
    { css: 'rgba(1, 2, 3, 0.5)', rgb: [1, 2, 3] },
  ])('$css', ({ css, rgb }) => {
    expect(parseCssColour(css)).toEqual(rgb);
  });
  it('rejects what it cannot read', () => {
    expect(() => parseCssColour('hsl(1, 2%, 3%)')).toThrow(/cannot parse/);
  });
});
