/**
 * SVG overlays drawn onto exported PNGs with sharp's composite (librsvg renders them; text is paths of
 * the fonts the app ships, ./glyphs, never the machine's fonts):
 * the legend (class name and the colormap's scale bar from 0 to 1) and detection boxes with labels.
 */
import { colormapCss } from '../../core/colormap';
import { svgTextPath, textWidth } from './glyphs';
import type { LegendCorner, LegendSpec } from '../../core/pipeline';
import type { Box } from '../../core/scoremap';

/** An SVG layer and where its top-left corner goes on the photo. */
export interface SvgLayer {
  svg: string;
  left: number;
  top: number;
  width: number;
  height: number;
}

function fmt(x: number): string {
  return String(Math.round(x * 100) / 100);
}

/**
 * One line of white text at (x, y) (y the baseline), in the layer's pixels, as paths of the fonts the
 * app ships (./glyphs): the same glyphs on every machine, every script of a label.
 */
const svgText = svgTextPath;

/**
 * The legend, sized to the photo (about a quarter of its width, at least readable, never larger
 * than the photo) and placed in `corner` (core/pipeline legendCorner: where it covers least of the
 * overlay), `margin` pixels in from the edges: for a colour scale (core/pipeline LegendSpec
 * 'scale') the title, the colormap's bar with the range's ends and the threshold shaded; for the class
 * map a swatch and label per class drawn, then "+N more".
 * @returns undefined when the photo is too small to hold one (under 48×32 pixels).
 */
export function legendLayer(imageWidth: number, imageHeight: number, spec: LegendSpec, corner: LegendCorner = 'bottom-left'): SvgLayer | undefined {
  if (imageWidth < 48 || imageHeight < 32) return undefined;
  const margin = Math.max(2, Math.round(Math.min(imageWidth, imageHeight) / 60));
  let font = Math.max(10, Math.round(Math.min(imageWidth, imageHeight) / 40));
  // Wide enough for the title and the class names where the photo allows (they are squeezed beyond).
  const widest = Math.max(textWidth(spec.title, font), ...(spec.kind === 'classes' ? spec.entries.map((e) => textWidth(e.label, font) + font * 1.2) : []));
  let width = Math.max(font * 14, Math.round(imageWidth / 4), Math.ceil(widest + font));
  const lines = spec.kind === 'scale' ? 3.6 : 1.6 + 1.25 * Math.max(1, spec.entries.length + (spec.more > 0 ? 1 : 0)) + 0.3;
  // Shrink to fit: the legend is `lines` font sizes tall and at most the photo minus margins wide.
  const maxW = imageWidth - 2 * margin;
  const maxH = imageHeight - 2 * margin;
  if (width > maxW) {
    font = Math.max(4, Math.floor((font * maxW) / width));
    width = maxW;
  }
  if (font * lines > maxH) font = Math.max(4, Math.floor(maxH / lines));
  const height = Math.round(font * lines);
  const pad = Math.round(font * 0.5);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">`,
    `<rect width="${width}" height="${height}" rx="${Math.round(font / 3)}" fill="#000" fill-opacity="0.6"/>`,
    svgText(spec.title, pad, Math.round(font * 1.15), font, { maxWidth: width - 2 * pad }),
  ];
  if (spec.kind === 'scale') {
    const [lo, hi] = spec.range;
    const barX = pad;
    const barW = width - 2 * pad;
    const barY = Math.round(font * 1.5);
    const barH = Math.round(font * 0.8);
    const stops = Array.from({ length: 17 }, (_, i) => `<stop offset="${fmt(i / 16)}" stop-color="${colormapCss(spec.colormap, i / 16)}"/>`).join('');
    const thr = spec.threshold;
    const thrMark = thr > lo && thr < hi
      ? `<rect x="${barX}" y="${barY}" width="${fmt(((thr - lo) / (hi - lo)) * barW)}" height="${barH}" fill="#000" fill-opacity="0.55"/>`
      : '';
    const textY = barY + barH + Math.round(font * 0.95);
    const small = Math.round(font * 0.85);
    // A relative range can be narrow (0.991–1): three decimals then.
    const tick = (x: number): string => (hi - lo < 0.1 ? String(Math.round(x * 1000) / 1000) : fmt(x));
    parts.push(
      `<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="0">${stops}</linearGradient></defs>`,
      `<rect x="${barX}" y="${barY}" width="${barW}" height="${barH}" fill="url(#g)" stroke="#fff" stroke-width="1"/>${thrMark}`,
      svgText(tick(lo), barX, textY, small),
      svgText(tick(hi), barX + barW, textY, small, { anchor: 'end' }),
    );
    if (spec.note) parts.push(svgText(spec.note, barX + barW / 2, textY, small, { anchor: 'middle' }));
  } else {
    const row = font * 1.25;
    const sw = Math.round(font * 0.8);
    spec.entries.forEach((e, i) => {
      const y = font * 1.6 + row * i;
      parts.push(
        `<rect x="${pad}" y="${fmt(y)}" width="${sw}" height="${sw}" fill="${e.colour}" stroke="#fff" stroke-width="1"/>`,
        svgText(e.label, pad + sw + Math.round(font * 0.4), y + sw * 0.95, font, { maxWidth: width - 2 * pad - sw - font * 0.4 }),
      );
    });
    if (spec.more > 0) parts.push(svgText(`+${spec.more} more`, pad, font * 1.6 + row * spec.entries.length + sw * 0.95, Math.round(font * 0.85)));
    if (spec.entries.length === 0) parts.push(svgText('no cell shows a class', pad, font * 1.6 + sw * 0.95, Math.round(font * 0.85)));
  }
  parts.push('</svg>');
  const left = corner.endsWith('left') ? margin : imageWidth - margin - width;
  const top = corner.startsWith('top') ? margin : imageHeight - margin - height;
  return { svg: parts.join(''), left, top, width, height };
}

export interface BoxToDraw {
  box: Box;
  label: string;
  score: number;
}

/**
 * One layer per box (so a few boxes on a 100-megapixel photo do not need a full-size layer),
 * clipped to the photo: a white frame with a dark outline and a "label 0.93" tag in its top-left,
 * moved left as far as it takes to stay whole inside the photo (a box at the right edge). Boxes
 * entirely outside the photo are dropped.
 */
export function boxLayers(imageWidth: number, imageHeight: number, boxes: readonly BoxToDraw[]): SvgLayer[] {
  const stroke = Math.max(2, Math.round(Math.min(imageWidth, imageHeight) / 300));
  const font = Math.max(9, Math.round(Math.min(imageWidth, imageHeight) / 60));
  const layers: SvgLayer[] = [];
  for (const b of boxes) {
    const [y0, x0, y1, x1] = b.box;
    const top = Math.max(0, Math.floor(y0));
    const text = `${b.label} ${b.score.toFixed(2)}`;
    const textW = Math.round(textWidth(text, font) + font * 0.6);
    // The layer spans the box, widened for its tag when the box is narrower: to the right, or to the
    // left where the photo ends first; the tag sits at the layer's left.
    const left = Math.max(0, Math.min(Math.floor(x0), imageWidth - textW));
    const right = Math.min(imageWidth, Math.max(Math.ceil(x1), left + textW));
    const bottom = Math.min(imageHeight, Math.ceil(y1));
    const width = right - left;
    const height = bottom - top;
    if (width < 1 || height < 1 || x1 <= 0 || y1 <= 0 || x0 >= imageWidth || y0 >= imageHeight) continue;
    // Frame in the box's own coordinates; parts outside the photo fall outside the layer.
    const fx = x0 - left;
    const fy = y0 - top;
    const fw = x1 - x0;
    const fh = y1 - y0;
    const tagW = Math.min(width, textW);
    const tagH = Math.min(height, Math.round(font * 1.35));
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">`
      + `<rect x="${fmt(fx + stroke / 2)}" y="${fmt(fy + stroke / 2)}" width="${fmt(Math.max(0, fw - stroke))}" height="${fmt(Math.max(0, fh - stroke))}" fill="none" stroke="#000" stroke-width="${stroke + 2}"/>`
      + `<rect x="${fmt(fx + stroke / 2)}" y="${fmt(fy + stroke / 2)}" width="${fmt(Math.max(0, fw - stroke))}" height="${fmt(Math.max(0, fh - stroke))}" fill="none" stroke="#fff" stroke-width="${stroke}"/>`
      + `<rect x="0" y="0" width="${tagW}" height="${tagH}" fill="#000" fill-opacity="0.7"/>`
      + svgText(text, Math.round(font * 0.3), Math.round(font * 1.05), font)
      + '</svg>';
    layers.push({ svg, left, top, width, height });
  }
  return layers;
}
