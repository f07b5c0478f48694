/** Colormaps for heatmaps, sampled from d3-scale-chromatic into RGB lookup tables. */

import {
  interpolateCividis,
  interpolateGreys,
  interpolateInferno,
  interpolateMagma,
  interpolatePlasma,
  interpolateRdYlBu,
  interpolateTurbo,
  interpolateViridis,
  schemeDark2,
  schemeTableau10,
} from 'd3-scale-chromatic';

export type ColormapName = 'viridis' | 'inferno' | 'magma' | 'plasma' | 'turbo' | 'cividis' | 'greys' | 'rdylbu';

/**
 * The colormaps, low → high score. 'greys' runs white → black as in d3; 'rdylbu' is d3's RdYlBu
 * reversed (blue → yellow → red, a perceptually saner stand-in for jet).
 */
export const COLORMAPS: readonly ColormapName[] = ['viridis', 'inferno', 'magma', 'plasma', 'turbo', 'cividis', 'greys', 'rdylbu'];

const INTERPOLATORS: Record<ColormapName, (t: number) => string> = {
  viridis: interpolateViridis,
  inferno: interpolateInferno,
  magma: interpolateMagma,
  plasma: interpolatePlasma,
  turbo: interpolateTurbo,
  cividis: interpolateCividis,
  greys: interpolateGreys,
  rdylbu: (t) => interpolateRdYlBu(1 - t),
};

export function isColormapName(x: unknown): x is ColormapName {
  return typeof x === 'string' && (COLORMAPS as readonly string[]).includes(x);
}

/** The colormap's colour at t ∈ [0, 1] as a CSS string, exactly as d3 gives it. */
export function colormapCss(name: ColormapName, t: number): string {
  return INTERPOLATORS[name](Math.min(Math.max(t, 0), 1));
}

/**
 * Parse a CSS colour as d3 writes it: 'rgb(r, g, b)' or '#rrggbb' / '#rgb'.
 * @returns [r, g, b], each 0–255.
 */
export function parseCssColour(css: string): [number, number, number] {
  const s = css.trim();
  const rgb = /^rgba?\(\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)\s*(?:,\s*[\d.]+\s*)?\)$/i.exec(s);
  if (rgb) return [Math.round(Number(rgb[1])), Math.round(Number(rgb[2])), Math.round(Number(rgb[3]))];
  const hex6 = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(s);
  if (hex6) return [parseInt(hex6[1], 16), parseInt(hex6[2], 16), parseInt(hex6[3], 16)];
  const hex3 = /^#([0-9a-f])([0-9a-f])([0-9a-f])$/i.exec(s);
  if (hex3) return [parseInt(hex3[1], 16) * 17, parseInt(hex3[2], 16) * 17, parseInt(hex3[3], 16) * 17];
  throw new Error(`cannot parse colour '${css}'`);
}

const cache = new Map<string, Uint8ClampedArray>();

/**
 * Lookup table of n colours sampled evenly from the colormap: entry i is the colour at t = i / (n − 1)
 * (t = 0 when n = 1). Parsed once per (name, n) and cached; each call returns a fresh copy.
 * @returns Uint8ClampedArray of length n · 3, [r, g, b] per entry.
 */
export function colormapLut(name: ColormapName, n = 256): Uint8ClampedArray {
  if (!isColormapName(name)) throw new Error(`unknown colormap '${String(name)}' (known: ${COLORMAPS.join(', ')})`);
  if (!(Number.isInteger(n) && n >= 1)) throw new Error(`colormap size must be a positive whole number, got ${n}`);
  const key = `${name}:${n}`;
  let lut = cache.get(key);
  if (!lut) {
    lut = new Uint8ClampedArray(n * 3);
    for (let i = 0; i < n; i++) lut.set(parseCssColour(INTERPOLATORS[name](n === 1 ? 0 : i / (n - 1))), i * 3);
    cache.set(key, lut);
  }
  return lut.slice();
}

/**
 * The class map's categorical palette: Tableau 10, then Dark2 with the colours least like Tableau's
 * first (18 colours). Class k gets entry k mod 18, so a class has the same colour on every photo of a model.
 */
const CLASS_PALETTE: readonly string[] = [...schemeTableau10, ...[2, 3, 0, 4, 1, 5, 6, 7].map((i) => schemeDark2[i])];

/** The class map's colour of class k as '#rrggbb' (see CLASS_PALETTE). */
export function classColourCss(k: number): string {
  return CLASS_PALETTE[((k % CLASS_PALETTE.length) + CLASS_PALETTE.length) % CLASS_PALETTE.length];
}

/** The class map's colour of class k as [r, g, b], each 0–255. */
export function classColour(k: number): [number, number, number] {
  return parseCssColour(classColourCss(k));
}
