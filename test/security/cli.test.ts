import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useWasm } from '../helpers/models';
import { mkfifo, mknodZero, RAW_CONTROL, runCli, smallTfjsModel, weightRange, writeTfjsModel, zeroBombZip, type CliRun, type TfjsModelFiles } from './bad-inputs';

/**
 * The CLI on hostile inputs, as a child process with a time limit and its peak RSS measured by
 * GNU time: one line naming the file on stderr, a non-zero exit, nothing written, memory near the
 * CLI's own footprint (about 200 MB here) however large the input claims or streams to be.
 */

/** Peak RSS allowed for a refusal, in KiB: the CLI's footprint plus headroom, far below what the inputs would take. */
const RSS_BOUND_KIB = 500 * 1024;

let root = '';
let files: TfjsModelFiles;
let photo = '';
let runs = 0;

beforeAll(async () => {
  await useWasm();
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-sec-cli-'));
  files = await smallTfjsModel();
  photo = path.join(root, 'photo.png');
  await sharp({ create: { width: 40, height: 40, channels: 3, background: { r: 200, g: 100, b: 50 } } }).png().toFile(photo);
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

function cli(args: string[], timeoutS = 60, env: Record<string, string> = {}): Promise<CliRun> {
  return runCli(args, { timeoutS, timeFile: path.join(root, `time-${++runs}.txt`), env: { CONVMAP_CACHE_DIR: path.join(root, 'cache'), ...env } });
}

/** Lines convmap itself printed on stderr (tfjs' banner aside). */
function ownLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('convmap:'));
}

function expectRefusal(r: CliRun, message: string): void {
  expect(r.timedOut, 'the CLI hung').toBe(false);
  expect(r.code).toBe(1);
  expect(ownLines(r.stderr)).toEqual([`convmap: ${message}`]);
}

function expectSmallRss(r: CliRun): void {
  if (r.maxRssKiB === null) return console.log('peak RSS not measured: /usr/bin/time is absent');
  console.log(`peak RSS ${Math.round(r.maxRssKiB / 1024)} MiB`);
  expect(r.maxRssKiB).toBeLessThan(RSS_BOUND_KIB);
}

async function modelDir(name: string, paths: string[], weights: Buffer | null = files.weights): Promise<string> {
  const json = structuredClone(files.json);
  json.weightsManifest[0].paths = paths;
  return writeTfjsModel(path.join(root, name), { ...files, json }, weights);
}

describe('hostile model files, through the CLI', () => {
  it('/dev/zero as the model: refused at once, memory stays small', async () => {
    const r = await cli(['convert', '/dev/zero']);
    expectRefusal(r, '/dev/zero: is a character device, not a regular file');
    expectSmallRss(r);
  });

  it('a /dev/zero-like device as a shard: refused before reading, memory stays small', async (ctx) => {
    const model = await modelDir('zero-shard', ['weights.bin'], null);
    const why = mknodZero(path.join(path.dirname(model), 'weights.bin'));
    if (why !== null) {
      console.log(`skipped: ${why}`);
      return ctx.skip();
    }
    const r = await cli(['convert', model]);
    expectRefusal(r, `${model}: weight file "weights.bin": ${path.join(path.dirname(model), 'weights.bin')}: is a character device, not a regular file`);
    expectSmallRss(r);
  });

  it('a link to /dev/zero as a shard: refused as leaving the folder', async () => {
    const model = await modelDir('zero-link', ['weights.bin'], null);
    await fs.symlink('/dev/zero', path.join(path.dirname(model), 'weights.bin'));
    const r = await cli(['convert', model]);
    expectRefusal(r, `${model}: weight file "weights.bin" is refused: ${path.join(path.dirname(model), 'weights.bin')}: is a link to /dev/zero, outside ${path.dirname(model)}`);
    expectSmallRss(r);
  });

  it('a FIFO as a shard: refused without hanging', async () => {
    const model = await modelDir('fifo-shard', ['weights.bin'], null);
    mkfifo(path.join(path.dirname(model), 'weights.bin'));
    const r = await cli(['convert', model], 30);
    expectRefusal(r, `${model}: weight file "weights.bin": ${path.join(path.dirname(model), 'weights.bin')}: is a FIFO (named pipe), not a regular file`);
  });

  it('convert -o with a traversal shard path writes nothing, and never the foreign bytes', async () => {
    await fs.writeFile(path.join(root, 'foreign.bin'), Buffer.alloc(files.weights.length, 'FOREIGN!'));
    const model = await modelDir('traversal', ['..%2Fforeign.bin'], null);
    const out = path.join(root, 'converted');
    const r = await cli(['convert', model, '-o', out]);
    expectRefusal(r, `${model}: weight file "..%2Fforeign.bin" is refused: ../foreign.bin: points outside ${path.dirname(model)}`);
    expect(await fs.readdir(out).catch(() => [])).toEqual([]);
  });

  it('a 1 GiB zip bomb as .keras: refused from its zip directory, memory stays small', async () => {
    const config = Buffer.from(JSON.stringify(files.json.modelTopology));
    const file = path.join(root, 'bomb.keras');
    await fs.writeFile(file, await zeroBombZip('model.weights.h5', 2 ** 30, 2 ** 30, { 'config.json': config }));
    expect((await fs.stat(file)).size).toBeLessThan(8 * 2 ** 20);
    const r = await cli(['convert', file]);
    expect(r.code).toBe(1);
    expect(ownLines(r.stderr)).toHaveLength(1);
    expect(ownLines(r.stderr)[0]).toMatch(new RegExp(`^convmap: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: zip entry "model\\.weights\\.h5" unpacks \\d+ bytes \\(\\d+\\.\\d MiB\\) to 1073741824 bytes \\(1024\\.0 MiB\\) \\(ratio \\d+, over 200\\): refused as a zip bomb$`));
    expectSmallRss(r);
  });

  it('a 1 GiB zip bomb whose directory says 1 MiB: inflation stops at 1 MiB, memory stays small', async () => {
    const config = Buffer.from(JSON.stringify(files.json.modelTopology));
    const file = path.join(root, 'lying-bomb.keras');
    await fs.writeFile(file, await zeroBombZip('model.weights.h5', 2 ** 30, 2 ** 20, { 'config.json': config }));
    const r = await cli(['convert', file]);
    expectRefusal(r, `${file}: zip entry "model.weights.h5" unpacks to more than the 1048576 bytes (1.0 MiB) its zip directory declares: refused`);
    expectSmallRss(r);
  });
});

describe('non-finite scores from a run', () => {
  it.each(['cpu', 'onnx'])('fail the photo naming it and the tile, exit 1, nothing written for it (%s engine)', async (engine) => {
    // Finite weights whose products overflow float32: every logit is +Infinity, softmax gives NaN.
    const bad = Buffer.from(files.weights);
    const head = weightRange(files, 'head/kernel');
    for (let i = 0; i < head.count; i++) bad.writeFloatLE(3e38, head.offset + 4 * i);
    const bias = weightRange(files, 'conv/bias');
    for (let i = 0; i < bias.count; i++) bad.writeFloatLE(1, bias.offset + 4 * i);
    const model = await writeTfjsModel(path.join(root, `overflow-${engine}`), files, bad);
    const out = path.join(root, `overflow-out-${engine}`);
    const r = await cli(['heatmap', path.dirname(model), photo, '--out', out, '--no-cache'], 60, { CONVMAP_BACKEND: engine });
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(1);
    // A failed photo is named once, in the run's summary ("failed: 1" and one line per photo).
    const failures = [...ownLines(r.stderr), ...r.stdout.split('\n')].filter((l) => l.includes(photo));
    expect(failures).toHaveLength(1);
    expect(r.stdout).toMatch(/^failed: 1$/m);
    expect(failures[0]).toMatch(new RegExp(`^\\s*${photo.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: the model gave NaN at cell \\(row \\d+, column \\d+\\), class \\d+ of tile rows \\d+–\\d+, columns \\d+–\\d+: non-finite scores are refused`));
    expect(await fs.readdir(out).catch(() => [])).toEqual([]);
  });
});

describe('terminal safety', () => {
  it('file names with ESC and BEL reach the terminal escaped, and a non-JSON model.json is not quoted', async () => {
    const dir = path.join(root, 'evil\u001b]0;pwned\u0007\u001b[31mred');
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, 'model.json'), 'root:x:0:0:root:/root:/bin/bash\n');
    const r = await cli(['convert', dir]);
    expect(r.code).toBe(1);
    expect(RAW_CONTROL.test(r.stderr)).toBe(false);
    expect(r.stderr).not.toContain('root:x');
    expect(ownLines(r.stderr)).toEqual([`convmap: ${path.join(root, 'evil\\x1b]0;pwned\\x07\\x1b[31mred', 'model.json')}: is not valid JSON`]);
  });

  it('layer names from model.json reach the terminal escaped', async () => {
    // tfjs itself refuses such names when building, so they are written into the files directly.
    const evilName = 'conv\u001b[2J\u0007';
    const json = structuredClone(files.json);
    const topology = json.modelTopology as { config: { layers: { config: { name: string } }[] } };
    expect(topology.config.layers[0].config.name).toBe('conv');
    topology.config.layers[0].config.name = evilName;
    for (const w of json.weightsManifest[0].weights) w.name = w.name.replace(/^conv\//, `${evilName}/`);
    const evil: TfjsModelFiles = { json, weights: files.weights };
    const bad = Buffer.from(evil.weights);
    bad.writeFloatLE(NaN, 0);
    const model = await writeTfjsModel(path.join(root, 'evil-layer'), evil, bad);
    const r = await cli(['convert', model]);
    expect(r.code).toBe(1);
    expect(RAW_CONTROL.test(r.stderr)).toBe(false);
    expect(ownLines(r.stderr)).toEqual([
      `convmap: ${model}: layer "conv\\x1b[2J\\x07" (Conv2D): weight "conv\\x1b[2J\\x07/kernel" holds NaN at value 0 of 18: the model's weights must be finite numbers`,
    ]);
  });

  it('labels with control characters are escaped in the report, Korean labels kept as they are', async () => {
    const model = await writeTfjsModel(path.join(root, 'labels'), files);
    await fs.writeFile(path.join(path.dirname(model), 'labels.txt'), '고양이\n개\u001b[31m\n새\u009b2J\n');
    const r = await cli(['convert', model]);
    expect(r.code).toBe(0);
    expect(RAW_CONTROL.test(r.stdout)).toBe(false);
    expect(r.stdout).toContain('labels      고양이, 개\\x1b[31m, 새\\x9b2J');
    const json = await cli(['convert', model, '--json']);
    expect(RAW_CONTROL.test(json.stdout)).toBe(false);
    expect((JSON.parse(json.stdout) as { labels: string[] }).labels).toEqual(['고양이', '개\u001b[31m', '새\u009b2J']);
  });
});
