/**
 * A photo's score outputs: `<name>.scores.json`, a per-class summary whose size does not grow with
 * the photo (maximum, where, and the top-k cells of each class), and with `--scores full` also
 * `<name>.scores.npy`, the whole averaged grid as a NumPy array [rows, cols, classes] (float16 or
 * float32, little-endian) that `numpy.load` reads directly. The .npy is streamed in chunks.
 */
import path from 'node:path';
import type { AveragedMap } from '../../core/average';
import { classMaxima, gridCellCentre } from '../../core/average';
import type { Detection } from '../../core/detect';
import type { ConvertedModelInfo } from '../../core/model-info';
import { classLabel } from '../../core/pipeline';
import type { NpyDtype } from '../../core/recipe';
import { scaleFactors, type ScoreMap } from '../../core/scoremap';

/** Cells listed per class in the summary (the strongest). */
export const SUMMARY_TOP_K = 5;

function round(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1e6) / 1e6 : x;
}

/** The k best covered cells of class k, by descending score (row-major order on ties). */
function topCells(avg: AveragedMap, k: number, count: number): { score: number; y: number; x: number }[] {
  const best: { score: number; cell: number }[] = [];
  for (let cell = 0; cell < avg.rows * avg.cols; cell++) {
    if (avg.coverage[cell] === 0) continue;
    const v = avg.scores[cell * avg.classes + k];
    if (best.length === count && !(v > best[count - 1].score)) continue;
    let i = best.length;
    while (i > 0 && v > best[i - 1].score) i--;
    best.splice(i, 0, { score: v, cell });
    if (best.length > count) best.pop();
  }
  return best.map(({ score, cell }) => {
    const [y, x] = gridCellCentre(avg, Math.floor(cell / avg.cols), cell % avg.cols);
    return { score: round(score), y: round(y), x: round(x) };
  });
}

export interface SummaryInput {
  photo: string;
  info: ConvertedModelInfo;
  maps: readonly ScoreMap[];
  averaged: AveragedMap;
  classIndex: number;
  detections: readonly Detection[];
  /** File name of the .npy written next to it, when there is one. */
  npy?: { file: string; dtype: NpyDtype };
}

/**
 * The summary record (`<name>.scores.json`). Pixel units are original photo pixels unless named
 * "scaled"; `perClass[k].top` are the k strongest grid cells (cell centres) of class k.
 */
export function scoresSummary(s: SummaryInput): object {
  const { averaged, info } = s;
  return {
    image: path.resolve(s.photo),
    imageSize: { height: averaged.imageSize[0], width: averaged.imageSize[1] },
    model: info.source,
    preprocess: info.preprocess,
    labels: info.labels,
    class: { index: s.classIndex, label: classLabel(info.labels, s.classIndex) },
    scales: s.maps.map((m) => {
      const [fy, fx] = scaleFactors(m);
      return {
        scale: m.scale,
        scaledSize: m.scaledSize,
        rows: m.rows,
        cols: m.cols,
        geometryScaled: m.geometry,
        windowPx: [round(m.geometry.window[0] / fy), round(m.geometry.window[1] / fx)],
        stridePx: [round(m.geometry.stride[0] / fy), round(m.geometry.stride[1] / fx)],
        offsetPx: [round(m.geometry.offset[0] / fy), round(m.geometry.offset[1] / fx)],
      };
    }),
    averaged: {
      mode: averaged.mode,
      rows: averaged.rows,
      cols: averaged.cols,
      classes: averaged.classes,
      cellSize: averaged.cellSize,
      ...(s.npy ? { file: path.basename(s.npy.file), dtype: s.npy.dtype, layout: 'numpy [rows, cols, classes], cell (r, c) spans [r·cellSize[0], (r+1)·cellSize[0]) × [c·cellSize[1], (c+1)·cellSize[1]) original px; 0 where no scale covers it' } : {}),
    },
    perClass: classMaxima(averaged).map((m) => ({
      label: info.labels[m.classIndex], maxScore: round(m.score), y: round(m.y), x: round(m.x), top: topCells(averaged, m.classIndex, SUMMARY_TOP_K),
    })),
    detections: s.detections.map((d) => ({ label: info.labels[d.classIndex], score: round(d.score), box: d.box.map(round) })),
  };
}

/** The summary JSON as text (small: its size depends on the classes, not the photo). */
export function scoresSummaryJson(s: SummaryInput): string {
  return `${JSON.stringify(scoresSummary(s))}\n`;
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** IEEE 754 binary16 bits of a number, rounded to nearest even (overflow to ±Inf, NaN kept). */
export function toFloat16Bits(v: number): number {
  F32[0] = v;
  const x = U32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}

/** The .npy v1.0 header for a little-endian C-order array, padded so the data starts at a multiple of 64. */
export function npyHeader(shape: readonly number[], dtype: NpyDtype): Uint8Array {
  const descr = dtype === 'float16' ? '<f2' : '<f4';
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const unpadded = 10 + dict.length + 1;
  const total = Math.ceil(unpadded / 64) * 64;
  const text = dict + ' '.repeat(total - unpadded) + '\n';
  const out = new Uint8Array(10 + text.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  out[8] = text.length & 0xff;
  out[9] = text.length >> 8;
  for (let i = 0; i < text.length; i++) out[10 + i] = text.charCodeAt(i);
  return out;
}

/** Values converted per chunk of the .npy stream (1 Mi values: 2–4 MB). */
const NPY_CHUNK = 1 << 20;

/** The averaged grid as .npy bytes [rows, cols, classes], chunk by chunk (nothing the size of the grid is built). */
export function* npyChunks(avg: Pick<AveragedMap, 'rows' | 'cols' | 'classes' | 'scores'>, dtype: NpyDtype): Generator<Uint8Array> {
  yield npyHeader([avg.rows, avg.cols, avg.classes], dtype);
  const n = avg.scores.length;
  for (let start = 0; start < n; start += NPY_CHUNK) {
    const end = Math.min(n, start + NPY_CHUNK);
    if (dtype === 'float32') {
      const part = new Float32Array(avg.scores.subarray(start, end));
      yield new Uint8Array(part.buffer);
    } else {
      const part = new Uint16Array(end - start);
      for (let i = start; i < end; i++) part[i - start] = toFloat16Bits(avg.scores[i]);
      yield new Uint8Array(part.buffer);
    }
  }
}
