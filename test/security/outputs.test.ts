import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeScene } from '../batch/fixtures';
import { runCli, slowSvg, type CliRun } from './bad-inputs';

/**
 * The batch's outputs on hostile names and disks (issue 19, items 6, 7, 10, 11), through the CLI
 * as a child process with a time limit: one line naming the file, a non-zero exit, nothing
 * partial left, the batch goes on. CSV files are read back with Python's csv module (an
 * independent parser): each must parse, every row as wide as the header.
 */

let root = '';
let runs = 0;

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-sec-out-'));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

function cli(args: string[], opts: { timeoutS?: number; fileSizeKiB?: number } = {}): Promise<CliRun> {
  return runCli(args, { timeoutS: opts.timeoutS ?? 90, fileSizeKiB: opts.fileSizeKiB, timeFile: path.join(root, `time-${++runs}.txt`), env: { CONVMAP_CACHE_DIR: path.join(root, 'cache') } });
}

/** Lines convmap itself printed on stderr (tfjs' banner aside). */
function ownLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('convmap:'));
}

/** A CSV file's rows as Python's csv module reads them. */
function parseCsv(file: string): string[][] {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import csv, json, sys; print(json.dumps(list(csv.reader(open(sys.argv[1], newline="", encoding="utf-8")))))', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python3 could not parse ${file}: ${r.stderr}`);
  return JSON.parse(r.stdout) as string[][];
}

/** Names in `dir` (recursively) that are temporary files: hidden and ending in .tmp. */
async function temporaries(dir: string): Promise<string[]> {
  const names = await fs.readdir(dir, { recursive: true });
  return names.filter((n) => path.basename(n).startsWith('.') && n.endsWith('.tmp'));
}

/** Peak RSS allowed for a heatmap run of a few small photos, in KiB: the CLI's footprint with tfjs and the built-in model, plus headroom. */
const RSS_BOUND_KIB = 700 * 1024;

function expectSmallRss(r: CliRun): void {
  if (r.maxRssKiB === null) return console.log('peak RSS not measured: /usr/bin/time is absent');
  console.log(`peak RSS ${Math.round(r.maxRssKiB / 1024)} MiB`);
  expect(r.maxRssKiB).toBeLessThan(RSS_BOUND_KIB);
}

/** Spreadsheet formula starts (OWASP CSV injection), also after spaces. */
const FORMULA = /^[ ]*[=+\-@\t\r＝＋－＠]/;

const digits = path.resolve(import.meta.dirname, '../../main/digits/model');

describe('output folders that cannot be made (item 7)', () => {
  it('convert -o under /proc/self: one line naming the folder, exit 1, no endless loop', async () => {
    const out = '/proc/self/nope/model';
    const r = await cli(['convert', digits, '-o', out], { timeoutS: 60 });
    expect(r.timedOut, 'the CLI hung').toBe(false);
    expect(r.code).toBe(1);
    expect(ownLines(r.stderr)).toEqual([expect.stringMatching(new RegExp(`^convmap: cannot write ${out}: the folder cannot be created there \\(ENOENT\\b`))]);
  });
});

describe('hostile photos and names: an SVG named .png, formula labels, long names (items 4, 10, 11)', () => {
  const labels = ['=HYPERLINK("http://x/")', '+cmd|/c calc', '-2+3', '@SUM(A1)', ' =1+1', '\tTAB', '５', '7', '8', '9', 'background'];
  /** 240 characters: its outputs (".heatmap.png", ".scores.json") fit in 255 bytes, the temporary names must be cut. */
  const long = `${'a'.repeat(236)}.png`;
  /** 250 characters: "<name>.heatmap.png" is 258 bytes, a name no file can have. */
  const tooLong = `${'b'.repeat(246)}.png`;
  const formulaPhoto = '=1+2.png';
  let photos = '';
  let out = '';
  let r: CliRun;
  beforeAll(async () => {
    photos = path.join(root, 'names');
    await fs.mkdir(photos);
    for (const [i, name] of [long, tooLong, formulaPhoto, 'plain.png'].entries()) await writeScene(path.join(photos, name), 40 + i, 160, 120);
    await fs.writeFile(path.join(photos, 'drawing.png'), slowSvg());
    const labelsFile = path.join(root, 'labels.txt');
    await fs.writeFile(labelsFile, `${labels.join('\n')}\n`);
    out = path.join(root, 'names-out');
    r = await cli(['heatmap', '--model', 'builtin', photos, '--out', out, '--labels', labelsFile, '--scales', '1', '--csv', '--boxes', '--detect-threshold', '0.05', '--class', '=HYPERLINK("http://x/")', '--no-cache']);
  }, 120_000);

  it('a 240-character photo name is processed: its outputs keep the full name', async () => {
    expect(r.timedOut).toBe(false);
    const written = await fs.readdir(out);
    expect(written).toContain(`${long.slice(0, -4)}.heatmap.png`);
    expect(written).toContain(`${long.slice(0, -4)}.scores.json`);
  });

  it('an SVG drawing named .png is refused in one line naming it, at once; the batch goes on', async () => {
    expect(r.timedOut, 'the CLI hung').toBe(false);
    const named = [...r.stdout.split('\n'), ...ownLines(r.stderr)].filter((l) => l.includes('drawing.png'));
    expect(named).toEqual([`  ${path.join(photos, 'drawing.png')}: an SVG drawing, not a photo: vector images are refused (export it as PNG or JPEG first)`]);
    expect((await fs.readdir(out)).filter((n) => n.startsWith('drawing'))).toEqual([]);
    // librsvg rendering the 9000×9000 drawing would have taken gigabytes.
    expectSmallRss(r);
  });

  it('an output name longer than a file name may be fails that photo in one line naming it; the others are done', async () => {
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^3 of 5 photos done/m);
    expect(r.stdout).toMatch(/^failed: 2$/m);
    const named = r.stdout.split('\n').filter((l) => l.includes(tooLong));
    expect(named).toEqual([`  ${path.join(photos, tooLong)}: cannot write ${path.join(out, `${tooLong.slice(0, -4)}.heatmap.png`)}: the file name is too long for the file system (258 bytes, over the 255 a file name may have; rename the photo or shorten --name)`]);
    expect((await fs.readdir(out)).filter((n) => n.startsWith('b'))).toEqual([]);
    expect(await temporaries(out)).toEqual([]);
  });

  it('no text cell of summary.csv or detections.csv starts a formula; both parse, no row wider than the header', async () => {
    const summary = parseCsv(path.join(out, 'summary.csv'));
    const detections = parseCsv(path.join(out, 'detections.csv'));
    expect(summary).toHaveLength(6);
    expect(detections.length).toBeGreaterThan(1);
    for (const rows of [summary, detections]) {
      // A failed photo's row stops before the class columns.
      for (const row of rows) expect(row.length).toBeLessThanOrEqual(rows[0].length);
      const cells = rows.flat().filter((c) => Number.isNaN(Number(c)));
      expect(cells.filter((c) => FORMULA.test(c))).toEqual([]);
    }
    // The header's class columns and the class drawn keep the label after the apostrophe that makes it text.
    expect(summary[0]).toContain('max:=HYPERLINK("http://x/")');
    expect(summary.map((row) => row[4]).slice(1).filter((c) => c !== '')).toEqual(['\'=HYPERLINK("http://x/")', '\'=HYPERLINK("http://x/")', '\'=HYPERLINK("http://x/")']);
    // Photos are named by absolute path ("/…=1+2.png"): never a formula, kept as they are.
    expect(summary.map((row) => row[0])).toContain(path.join(photos, formulaPhoto));
    // Labels are read trimmed (the label file's reader), then neutralised.
    for (const row of detections.slice(1)) expect(labels.map((l) => l.trim())).toContain(row[1].replace(/^'/, ''));
  });
});

describe('a full disk while the CSV files are written (item 6)', () => {
  it('the CSV is cut at its last whole row, parses, and the run says it is incomplete (exit 1)', async () => {
    const photos = path.join(root, 'many');
    await fs.mkdir(photos);
    // Long names make fat rows: the summary outgrows the size limit that every picture stays under.
    for (let i = 0; i < 18; i++) {
      await sharp({ create: { width: 56, height: 56, channels: 3, background: { r: 10 * i, g: 0, b: 0 } } }).png().toFile(path.join(photos, `${String(i).padStart(2, '0')}-${'x'.repeat(180)}.png`));
    }
    const out = path.join(root, 'many-out');
    const r = await cli(['heatmap', '--model', 'builtin', photos, '--out', out, '--scales', '1', '--csv', '--scores', 'none', '--no-cache'], { fileSizeKiB: 8 });
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(1);
    const summaryFile = path.join(out, 'summary.csv');
    const incomplete = ownLines(r.stderr).filter((l) => l.includes('incomplete'));
    expect(incomplete).toEqual([expect.stringMatching(new RegExp(`^convmap: ${summaryFile} is incomplete: rows of \\d+ photos are missing: cannot write ${summaryFile}: the file is over the size limit of this process or file system \\(`))]);
    expect(r.stdout).toMatch(/^csv: .*summary\.csv, .*detections\.csv \(incomplete, see above\)$/m);
    const rows = parseCsv(summaryFile);
    expect(rows.length).toBeGreaterThan(1);
    expect(rows.length).toBeLessThan(19);
    for (const row of rows) expect(row).toHaveLength(rows[0].length);
    for (const row of rows.slice(1)) expect(row[1]).toBe('done');
    expect((await fs.stat(summaryFile)).size).toBeLessThanOrEqual(8 * 1024);
    expect(await temporaries(out)).toEqual([]);
  });
});
