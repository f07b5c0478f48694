/**
 * Text of exported pictures (legends, box tags) as SVG paths drawn from fonts the app ships, so a
 * label reads the same on every machine whatever fonts it has installed: Latin, Greek and Cyrillic
 * from Noto Sans, Arabic from Noto Sans Arabic, Hangul, kana and the common CJK ideographs from
 * Noto Sans KR (all @fontsource packages, regular weight, WOFF). fontkit shapes each run of one font
 * (Arabic joining, marks); runs follow each other left to right (no bidirectional reordering of
 * mixed-direction labels). Fonts are read from disk by {@link loadGlyphs} (asynchronously, each
 * file once), before the synchronous shaping. With {@link keepShapedText}, shaped lines are kept in
 * a file between runs, and a run that draws the same lines at the same sizes loads neither fontkit
 * nor the fonts.
 */
import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import type * as Fontkit from 'fontkit';
import { makeDirs, writeFileAtomic } from '../io/atomic';

/** One @fontsource package: its files' name prefix and the subsets wanted, in the order they are tried. */
interface FontPackage {
  name: string;
  /** Subsets (keys of the package's unicode.json) to use; all when absent. */
  subsets?: readonly string[];
}

/** The packages, by preference: a character is drawn by the first subset that holds it. */
const PACKAGES: readonly FontPackage[] = [
  { name: 'noto-sans', subsets: ['latin', 'latin-ext', 'cyrillic', 'cyrillic-ext', 'greek', 'greek-ext', 'vietnamese'] },
  { name: 'noto-sans-arabic', subsets: ['arabic'] },
  { name: 'noto-sans-kr' },
];

interface Face {
  file: string;
  ranges: [number, number][];
  font?: Fontkit.Font;
}

let faces: Promise<Face[]> | undefined;
/** The faces once read (set when {@link loadGlyphs} has read the tables). */
let known: Face[] | undefined;

function parseRanges(text: string): [number, number][] {
  return text.split(',').map((part) => {
    const [a, b] = part.trim().replace(/^U\+/i, '').split('-');
    return [parseInt(a, 16), parseInt(b ?? a, 16)];
  });
}

/** Each package's unicode.json (its subsets' ranges), by path. */
function unicodeFiles(): string[] {
  const require = createRequire(import.meta.url);
  return PACKAGES.map((pkg) => require.resolve(`@fontsource/${pkg.name}/unicode.json`));
}

/** The faces of the packages' subsets, from their unicode.json tables (in {@link unicodeFiles}' order). */
function facesOf(tables: readonly Record<string, string>[], files: readonly string[]): Face[] {
  const list: Face[] = [];
  PACKAGES.forEach((pkg, i) => {
    const table = tables[i];
    for (const key of pkg.subsets ?? Object.keys(table)) {
      if (table[key] === undefined) continue;
      const subset = key.replace(/^\[(\d+)\]$/, '$1');
      list.push({ file: path.join(path.dirname(files[i]), 'files', `${pkg.name}-${subset}-400-normal.woff`), ranges: parseRanges(table[key]) });
    }
  });
  return list;
}

/** Every shipped subset with its Unicode ranges (from each package's unicode.json). */
function allFaces(): Promise<Face[]> {
  faces ??= (async () => {
    const files = unicodeFiles();
    const tables = await Promise.all(files.map(async (f) => JSON.parse(await fs.readFile(f, 'utf8')) as Record<string, string>));
    known ??= facesOf(tables, files);
    return known;
  })();
  faces.catch(() => {
    faces = undefined;
  });
  return faces;
}

/** The face that draws code point cp: the first whose ranges hold it, else the first (its .notdef box). */
function faceIn(list: readonly Face[], cp: number): Face {
  return list.find((f) => f.ranges.some(([a, b]) => cp >= a && cp <= b)) ?? list[0];
}

const reading = new Map<Face, Promise<void>>();
let fontkitModule: typeof Fontkit | undefined;

/**
 * fontkit's CommonJS build: Node loads it in about half the time of its ES module, which it imports
 * as CommonJS dependencies through the ESM loader (each lexed for its exports): a quarter of the
 * CPU time of loading fontkit and a Korean model's fonts, on the thread that draws the picture.
 */
function fontkit(): typeof Fontkit {
  fontkitModule ??= createRequire(import.meta.url)('fontkit') as typeof Fontkit;
  return fontkitModule;
}

/**
 * Starts reading the fonts `texts` need, without waiting ({@link loadGlyphs} later finds them read
 * or being read): a batch calls it as it starts, so the fonts load while its first photo is scored.
 * A failure is left for loadGlyphs to report.
 */
export function prepareGlyphs(texts: Iterable<string>): void {
  loadGlyphs(texts).catch(() => undefined);
}

/**
 * A WOFF 1.0 font as the SFNT (TrueType/OpenType) file it wraps: each table inflated with Node's
 * zlib, once, instead of by fontkit's JavaScript inflater table by table as glyphs are drawn.
 * Bytes that are not WOFF are returned as they are (fontkit reads or refuses them).
 * @throws when a table's data lies outside the file or inflates to another length.
 */
export function sfntOfWoff(woff: Buffer): Buffer {
  if (woff.length < 44 || woff.toString('latin1', 0, 4) !== 'wOFF') return woff;
  const numTables = woff.readUInt16BE(12);
  if (44 + numTables * 20 > woff.length) throw new Error('the WOFF table directory is cut short');
  const tables = Array.from({ length: numTables }, (_, i) => {
    const at = 44 + i * 20;
    const offset = woff.readUInt32BE(at + 4);
    const compLength = woff.readUInt32BE(at + 8);
    const origLength = woff.readUInt32BE(at + 12);
    if (offset + compLength > woff.length) throw new Error(`WOFF table ${woff.toString('latin1', at, at + 4)} lies outside the file`);
    const packed = woff.subarray(offset, offset + compLength);
    const data = compLength < origLength ? inflateSync(packed, { maxOutputLength: origLength }) : packed;
    if (data.length !== origLength) throw new Error(`WOFF table ${woff.toString('latin1', at, at + 4)} inflates to ${data.length} bytes, not ${origLength}`);
    return { tag: woff.subarray(at, at + 4), checksum: woff.readUInt32BE(at + 16), data };
  });
  let size = 12 + numTables * 16;
  for (const t of tables) size += (t.data.length + 3) & ~3;
  const out = Buffer.alloc(size);
  woff.copy(out, 0, 4, 8);
  out.writeUInt16BE(numTables, 4);
  const entrySelector = Math.floor(Math.log2(Math.max(1, numTables)));
  out.writeUInt16BE(16 * 2 ** entrySelector, 6);
  out.writeUInt16BE(entrySelector, 8);
  out.writeUInt16BE(numTables * 16 - 16 * 2 ** entrySelector, 10);
  let offset = 12 + numTables * 16;
  tables.forEach((t, i) => {
    const rec = 12 + i * 16;
    t.tag.copy(out, rec);
    out.writeUInt32BE(t.checksum, rec + 4);
    out.writeUInt32BE(offset, rec + 8);
    out.writeUInt32BE(t.data.length, rec + 12);
    t.data.copy(out, offset);
    offset += (t.data.length + 3) & ~3;
  });
  return out;
}

/**
 * Reads the fonts that `texts` need (each file once per process). Call it before {@link shapeText}
 * and the SVG helpers, which are synchronous. With kept shaped lines ({@link keepShapedText}) that
 * hold a line with one of `texts` (drawn before with these labels), it reads none (unless
 * `opts.fonts`): draw through {@link drawText}, which reads them when a line is missing.
 * @throws naming the font file when it cannot be read or parsed.
 */
export async function loadGlyphs(texts: Iterable<string>, opts: { fonts?: boolean } = {}): Promise<void> {
  const wanted = [...texts];
  if (store && opts.fonts !== true) {
    await store.read;
    // Lines drawn before with these labels (a legend draws some of them, in its title or its classes):
    // the same picture again needs no fonts; drawText reads them for a line at another size.
    const kept = [...store.texts];
    if (wanted.some((label) => kept.some((line) => line.includes(label)))) return;
  }
  // fontkit (and the Unicode tables it inflates as it loads) only where text is drawn.
  const list = await allFaces();
  const { create } = fontkit();
  const need = new Set<Face>([list[0]]);
  for (const text of wanted) for (const ch of text) need.add(faceIn(list, ch.codePointAt(0) as number));
  await Promise.all([...need].map((face) => {
    let p = reading.get(face);
    if (!p) {
      p = fs.readFile(face.file).then((bytes) => {
        face.font ??= fontOfBytes(create, face.file, bytes);
      }).catch((err: unknown) => {
        reading.delete(face);
        throw err instanceof Error && err.message.startsWith('cannot read the font') ? err : fontError(face.file, err);
      });
      reading.set(face, p);
    }
    return p;
  }));
}

function fontError(file: string, err: unknown): Error {
  return new Error(`cannot read the font ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

/** One font of a WOFF file's bytes. @throws naming the file when fontkit cannot read it as one font. */
function fontOfBytes(create: typeof Fontkit.create, file: string, bytes: Buffer): Fontkit.Font {
  let font: ReturnType<typeof Fontkit.create>;
  try {
    font = create(sfntOfWoff(bytes));
  } catch (err) {
    throw fontError(file, err);
  }
  if (!('layout' in font)) throw fontError(file, new Error(`${file}: a font collection, not one font`));
  return font;
}

/**
 * Thrown by {@link shapeText} for a line that the kept shaped lines ({@link keepShapedText}) lack
 * while its fonts are not read (loadGlyphs skipped them): {@link drawText} then reads them.
 */
export class UnshapedLine extends Error {
  constructor(readonly text: string) {
    super(`glyphs: "${text}" is not among the kept shaped lines and its fonts are not read`);
  }
}

/** Whether every font that `text` needs is read. */
function fontsRead(text: string): boolean {
  if (!known) return false;
  for (const ch of text) if (!faceIn(known, ch.codePointAt(0) as number).font) return false;
  return true;
}

/**
 * Runs `draw`, which shapes text (legends, box tags), after {@link loadGlyphs} of `texts`; a line
 * that was neither kept by an earlier run nor can be shaped with the fonts read has its fonts read,
 * and `draw` runs again.
 */
export async function drawText<T>(texts: readonly string[], draw: () => T): Promise<T> {
  await loadGlyphs(texts);
  for (;;) {
    try {
      return draw();
    } catch (err) {
      if (!(err instanceof UnshapedLine)) throw err;
      await loadGlyphs([...texts, err.text], { fonts: true });
      if (!fontsRead(err.text)) throw err;
    }
  }
}

/** Lines shaped by earlier runs, read from and written to one file (see {@link keepShapedText}). */
interface ShapedStore {
  file: string;
  /** fontkit's and the font packages' versions: a file of other versions is not read. */
  version?: string;
  /** By shapeText's key (size and text), least recently used first. */
  lines: Map<string, ShapedText>;
  /** The texts of `lines`, at any size. */
  texts: Set<string>;
  read: Promise<void>;
  added: boolean;
}

let store: ShapedStore | undefined;

/** File name of the kept shaped lines in a cache folder. */
export const SHAPED_TEXT_FILE = 'shaped-text-v1.json';

/** At most this many characters of keys and outlines are kept (about 2 MB; a legend at one size is a few kB). */
const STORE_MAX_CHARS = 2_000_000;

/** What fontkit's SVG path data holds: commands and numbers (a kept file is not trusted to hold only that). */
const PATH_DATA = /^[MLQCZ0-9.eE+\- ]*$/;

/** The versions the kept lines depend on: fontkit's and each font package's (their package.json). */
async function shapingVersion(): Promise<string> {
  const require = createRequire(import.meta.url);
  const versionNear = async (file: string): Promise<string> => {
    for (let dir = path.dirname(file); dir !== path.dirname(dir); dir = path.dirname(dir)) {
      try {
        const pkg = JSON.parse(await fs.readFile(path.join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
        if (pkg.name && pkg.version) return `${pkg.name}@${pkg.version}`;
      } catch {
        // no package.json here; one folder up
      }
    }
    return `${file}@unknown`;
  };
  const versions = await Promise.all([require.resolve('fontkit'), ...unicodeFiles()].map(versionNear));
  return JSON.stringify([1, ...versions, PACKAGES]);
}

/**
 * Keeps shaped lines (each line's outline and width at a size) in `file` between runs: this run reads
 * it (without waiting; {@link loadGlyphs} waits), and then neither fontkit nor the fonts are loaded
 * when every label was shaped by an earlier run; a line or size the file lacks is shaped with the
 * fonts, read then. A file of other versions of fontkit or the fonts, or one that cannot be read, is
 * left unused. {@link saveShapedText} writes what this run added.
 */
export function keepShapedText(file: string): void {
  if (store?.file === file) return;
  const s: ShapedStore = { file, lines: new Map(), texts: new Set(), read: Promise.resolve(), added: false };
  s.read = (async () => {
    s.version = await shapingVersion();
    const data = JSON.parse(await fs.readFile(file, 'utf8')) as { version?: unknown; lines?: unknown };
    if (data.version !== s.version || !Array.isArray(data.lines)) return;
    for (const line of data.lines as unknown[]) {
      if (!Array.isArray(line)) continue;
      const [key, d, width] = line as unknown[];
      if (typeof key !== 'string' || typeof d !== 'string' || typeof width !== 'number' || !Number.isFinite(width) || !PATH_DATA.test(d)) continue;
      const at = key.indexOf('\u0000');
      if (at < 1) continue;
      s.lines.set(key, { d, width });
      s.texts.add(key.slice(at + 1));
    }
  })().catch(() => undefined);
  store = s;
}

/**
 * Writes the kept shaped lines ({@link keepShapedText}) when this run added some: the most recently
 * used within about 2 MB, atomically. A failure to write is ignored (the next run shapes again).
 */
export async function saveShapedText(): Promise<void> {
  const s = store;
  if (!s?.added || s.version === undefined) return;
  s.added = false;
  const kept: [string, string, number][] = [];
  let chars = 0;
  for (const [key, line] of [...s.lines].reverse()) {
    chars += key.length + line.d.length;
    if (chars > STORE_MAX_CHARS) break;
    kept.push([key, line.d, line.width]);
  }
  kept.reverse();
  try {
    await makeDirs(path.dirname(s.file));
    await writeFileAtomic(s.file, JSON.stringify({ version: s.version, lines: kept }));
  } catch {
    // a cache: the next run shapes these lines again
  }
}

function faceOf(cp: number): Face {
  if (!known) throw new Error('glyphs: loadGlyphs must run before text is shaped');
  return faceIn(known, cp);
}

function fontOf(face: Face): Fontkit.Font {
  if (!face.font) throw new Error(`glyphs: ${path.basename(face.file)} is not loaded (loadGlyphs the text first)`);
  return face.font;
}

/** Runs of consecutive characters drawn by one face; joiners and marks stay with the run before them. */
function runs(text: string): { face: Face; text: string }[] {
  const out: { face: Face; text: string }[] = [];
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    const last = out[out.length - 1];
    // Spaces, joiners and combining marks keep the current run's font (Arabic words stay one run).
    const neutral = /^[\s\u200c\u200d\u0300-\u036f]$/u.test(ch);
    const face = neutral && last ? last.face : faceOf(cp);
    if (last && last.face === face) last.text += ch;
    else out.push({ face, text: ch });
  }
  // A space between two fonts goes with the run after it: at the end of a right-to-left run it would
  // be drawn on its left, and the next run would touch the last letter.
  for (let i = 0; i + 1 < out.length; i++) {
    const trail = /\s+$/u.exec(out[i].text)?.[0] ?? '';
    if (trail && trail.length < out[i].text.length) {
      out[i].text = out[i].text.slice(0, -trail.length);
      out[i + 1].text = trail + out[i + 1].text;
    }
  }
  return out;
}

/** A shaped line: its SVG path data in pixels (baseline at y = 0, starting at x = 0) and its advance width. */
export interface ShapedText {
  d: string;
  width: number;
}

const shaped = new Map<string, ShapedText>();

/**
 * Shapes one line of text at `size` px (the em size): the outlines of its glyphs as one SVG path,
 * y down, baseline at 0, pen starting at 0. Cached per (text, size).
 */
export function shapeText(text: string, size: number): ShapedText {
  const key = `${size}\u0000${text}`;
  const hit = shaped.get(key) ?? keptLine(key);
  if (hit) return hit;
  if (store && !fontsRead(text)) throw new UnshapedLine(text);
  const parts: string[] = [];
  let pen = 0;
  for (const run of runs(text)) {
    const font = fontOf(run.face);
    const s = size / font.unitsPerEm;
    const laid = font.layout(run.text);
    let x = 0;
    laid.glyphs.forEach((g, i) => {
      const pos = laid.positions[i];
      const d = g.path.scale(s, -s).translate(pen + (x + pos.xOffset) * s, -pos.yOffset * s).toSVG();
      if (d) parts.push(d);
      x += pos.xAdvance;
    });
    pen += x * s;
  }
  const out = { d: parts.join(''), width: pen };
  if (shaped.size > 2000) shaped.clear();
  shaped.set(key, out);
  if (store) {
    store.lines.delete(key);
    store.lines.set(key, out);
    store.texts.add(text);
    store.added = true;
  }
  return out;
}

/** A line kept by an earlier run ({@link keepShapedText}), marked as the most recently used. */
function keptLine(key: string): ShapedText | undefined {
  const line = store?.lines.get(key);
  if (line === undefined || store === undefined) return undefined;
  store.lines.delete(key);
  store.lines.set(key, line);
  shaped.set(key, line);
  return line;
}

/** The advance width of one line of text at `size` px, pixels. */
export function textWidth(text: string, size: number): number {
  return shapeText(text, size).width;
}

function fmt(x: number): string {
  return String(Math.round(x * 100) / 100);
}

/**
 * One line of text as an SVG <path> with its baseline at (x, y), in the layer's pixels.
 * @param opts anchor: which end of the text x is (default start); maxWidth: a longer line is squeezed
 *   horizontally to fit; fill: CSS colour (default white).
 */
export function svgTextPath(text: string, x: number, y: number, size: number, opts: { anchor?: 'start' | 'middle' | 'end'; maxWidth?: number; fill?: string } = {}): string {
  const { d, width } = shapeText(text, size);
  if (!d) return '';
  const squeeze = opts.maxWidth !== undefined && width > opts.maxWidth && width > 0 ? Math.max(0.01, opts.maxWidth) / width : 1;
  const w = width * squeeze;
  const left = opts.anchor === 'end' ? x - w : opts.anchor === 'middle' ? x - w / 2 : x;
  const transform = squeeze < 1 ? `translate(${fmt(left)} ${fmt(y)}) scale(${squeeze.toFixed(4)} 1)` : `translate(${fmt(left)} ${fmt(y)})`;
  return `<path transform="${transform}" d="${d}" fill="${opts.fill ?? '#fff'}"/>`;
}
