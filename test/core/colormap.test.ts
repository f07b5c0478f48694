import { describe, expect, it } from 'vitest';
import { COLORMAPS, colormapCss, colormapLut, isColormapName, parseCssColour, type ColormapName } from '../../core/colormap';

/**
 * d3's turbo, written out from its published polynomial (Mikhailov's Turbo fit, as in
 * d3-scale-chromatic's documentation and source): an independent reference, not the code under test.
 */
function turboRef(t: number): [number, number, number] {
  const c = (v: number) => Math.max(0, Math.min(255, Math.round(v)));
  return [
    c(34.61 + t * (1172.33 - t * (10793.56 - t * (33300.12 - t * (38394.49 - t * 14825.05))))),
    c(23.31 + t * (557.33 + t * (1225.33 - t * (3574.96 - t * (1073.77 + t * 707.56))))),
    c(27.2 + t * (3211.1 - t * (15327.97 - t * (27814 - t * (22569.18 - t * 6838.66))))),
  ];
}

/** Published end colours of each map (matplotlib's tables, which d3 uses; ColorBrewer's Greys and RdYlBu; d3's cividis fit). */
const ENDS: Record<ColormapName, [string, string]> = {
  viridis: ['#440154', '#fde725'],
  inferno: ['#000004', '#fcffa4'],
  magma: ['#000004', '#fcfdbf'],
  plasma: ['#0d0887', '#f0f921'],
  turbo: ['#23171b', '#900c00'],
  cividis: ['#002051', '#fdea45'],
  greys: ['#ffffff', '#000000'],
  // d3's RdYlBu reversed: ColorBrewer's blue end #313695 low, red end #a50026 high.
  rdylbu: ['#313695', '#a50026'],
};

describe('colormapLut', () => {
  it('offers at least the required maps', () => {
    expect(COLORMAPS).toEqual(expect.arrayContaining(['viridis', 'inferno', 'magma', 'plasma', 'turbo', 'cividis', 'greys']));
    expect(Object.keys(ENDS).sort()).toEqual([...COLORMAPS].sort());
  });

  it.each(COLORMAPS.map((name) => ({ name })))('$name: its first and last entries are the published end colours', ({ name }) => {
    const lut = colormapLut(name, 257);
    expect(lut).toHaveLength(257 * 3);
    expect(Array.from(lut.subarray(0, 3))).toEqual(parseCssColour(ENDS[name][0]));
    expect(Array.from(lut.subarray(256 * 3))).toEqual(parseCssColour(ENDS[name][1]));
    expect(parseCssColour(colormapCss(name, 0))).toEqual(parseCssColour(ENDS[name][0]));
    expect(parseCssColour(colormapCss(name, 1))).toEqual(parseCssColour(ENDS[name][1]));
  });

  it('turbo follows its published polynomial at every entry of a 256-entry table', () => {
    const lut = colormapLut('turbo', 256);
    for (let i = 0; i < 256; i++) expect(Array.from(lut.subarray(i * 3, i * 3 + 3))).toEqual(turboRef(i / 255));
  });

  it('greys is grey (r = g = b) and darkens monotonically', () => {
    const g = colormapLut('greys', 64);
    for (let i = 0; i < 64; i++) {
      expect(g[i * 3]).toBe(g[i * 3 + 1]);
      expect(g[i * 3]).toBe(g[i * 3 + 2]);
      if (i > 0) expect(g[i * 3]).toBeLessThanOrEqual(g[(i - 1) * 3]);
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
    expect(Array.from(colormapLut('magma', 4).subarray(0, 3))).toEqual(parseCssColour(ENDS.magma[0]));
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
