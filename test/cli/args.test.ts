/**
 * The heatmap command's model argument, defaults and messages: the built-in model never runs by
 * mistake, the CLI draws with the window's defaults, and every common mistake gets one plain line.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RECIPE } from '../../core/recipe';
import { loadGlyphs } from '../../main/services/glyphs';
import { legendLayer } from '../../main/services/legend';
import { cliSandbox, REPO } from '../helpers/cli';
import { writeScene } from '../batch/fixtures';

const repo = REPO;
const corpus = path.resolve(repo, '../shared/corpus');
const hasCorpus = existsSync(corpus);
if (!hasCorpus) console.log(`skipping corpus CLI argument tests: ${corpus} is absent`);

const cli = cliSandbox('convmap-args-');
const { convmap } = cli;

let photos: string;
let scene: string;
beforeAll(async () => {
  photos = path.join(cli.dir, 'photos');
  await fs.mkdir(photos);
  scene = path.join(photos, 'scene.png');
  await writeScene(scene, 3);
});

describe('the model argument', () => {
  it('refuses a first argument that is neither a model nor a photo or folder of photos, naming it, and writes nothing', async () => {
    const out = path.join(cli.dir, 'typo-out');
    const typo = await convmap('heatmap', path.join(cli.dir, 'waste_modle'), photos, '--out', out);
    expect(typo.code).toBe(1);
    expect(typo.stderr.trim().split('\n')).toEqual([`convmap: ${path.join(cli.dir, 'waste_modle')}: no such model, photo or folder (a model is a model.json, a model folder, a converted folder, a .h5, .keras or .onnx file)`]);
    expect(existsSync(out)).toBe(false);

    const empty = path.join(cli.dir, 'empty');
    await fs.mkdir(empty);
    const e = await convmap('heatmap', empty, photos, '--out', out);
    expect(e.code).toBe(1);
    expect(e.stderr.trim()).toBe(`convmap: ${empty}: an empty folder, neither a model nor a folder of photos`);

    const text = path.join(cli.dir, 'notes.txt');
    await fs.writeFile(text, 'hello');
    const t = await convmap('heatmap', text, photos, '--out', out);
    expect(t.code).toBe(1);
    expect(t.stderr).toMatch(/notes\.txt: neither a model .* nor a photo/);

    const missing = await convmap('heatmap', '--model', path.join(cli.dir, 'nope'), photos, '--out', out);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/--model .*nope: no such model, photo or folder/);
    expect(existsSync(out)).toBe(false);
  });

  it('refuses photos without a model in one line saying how to name one, and writes nothing', async () => {
    const out = path.join(cli.dir, 'implicit');
    for (const given of [[photos], [scene], [scene, photos]]) {
      const r = await convmap('heatmap', ...given, '--out', out, '--scales', '1');
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^convmap: no model given: name one first .*--model PATH, or --model builtin for the built-in digit model$/m);
      expect(r.stdout).toBe('');
    }
    expect(existsSync(out)).toBe(false);
  });

  it('runs the built-in model when asked with --model builtin, and names it in the summary', async () => {
    const named = await convmap('heatmap', '--model', 'builtin', photos, '--out', path.join(cli.dir, 'named'), '--scales', '1');
    expect(named.code).toBe(0);
    expect(named.stdout).toMatch(/^1 of 1 photos done in .* by model Built-in digits with wasm \(\d+ workers\)$/m);
    const explicit = await convmap('heatmap', '--model', 'builtin', scene, '--out', path.join(cli.dir, 'explicit'), '--scales', '1', '--json');
    expect(explicit.code).toBe(0);
    const lines = explicit.stdout.trim().split('\n').map((l) => JSON.parse(l) as { model?: string; summary?: { model: string; modelPath: string | null } });
    expect(lines[0].model).toBe('Built-in digits');
    expect(lines[lines.length - 1].summary).toMatchObject({ model: 'Built-in digits', modelPath: null });
  });
});

describe('defaults shared with the window', () => {
  it('leaves a photo untouched where the model sees nothing (threshold 0.2), and draws "any digit" for a model with a background class', async () => {
    // A black photo with one white MNIST-like stroke would be model-dependent; an all-black photo is
    // background everywhere for the built-in model, so with the shared threshold nothing is drawn.
    const black = path.join(cli.dir, 'black.png');
    await sharp({ create: { width: 120, height: 90, channels: 3, background: { r: 0, g: 0, b: 0 } } }).png().toFile(black);
    const out = path.join(cli.dir, 'defaults');
    const r = await convmap('heatmap', '--model', 'builtin', black, scene, '--out', out, '--scales', '1');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/black\.png → .*\(any \(not background\), 1: 16×24 cells\)/);
    const raw = await sharp(path.join(out, 'black.heatmap.png')).raw().toBuffer();
    // The legend is drawn by default, as in the window (DEFAULT_RECIPE.legend), in its place at the
    // bottom-left; every other pixel is untouched: the old defaults (threshold 0, opacity 0.5) tinted
    // every pixel blue.
    await loadGlyphs([]);
    const spec = { kind: 'scale' as const, title: 'any (not background)', colormap: DEFAULT_RECIPE.colormap, range: [0, 1] as [number, number], threshold: DEFAULT_RECIPE.threshold };
    const l = legendLayer(120, 90, spec) as NonNullable<ReturnType<typeof legendLayer>>;
    expect(DEFAULT_RECIPE.legend).toBe(true);
    let inLegend = 0;
    for (let p = 0; p < 120 * 90; p++) {
      const y = Math.floor(p / 120);
      const x = p % 120;
      const inside = y >= l.top && y < l.top + l.height && x >= l.left && x < l.left + l.width;
      const lit = raw[p * 3] + raw[p * 3 + 1] + raw[p * 3 + 2] > 0;
      if (inside && lit) inLegend++;
      if (!inside) expect(lit, `(${y}, ${x})`).toBe(false);
    }
    expect(inLegend).toBeGreaterThan(100);
    // The scene has digits: some pixels are tinted, and most of the black background stays black.
    const s = await sharp(path.join(out, 'scene.heatmap.png')).raw().toBuffer({ resolveWithObject: true });
    const photo = await sharp(scene).raw().toBuffer();
    let same = 0;
    let tinted = 0;
    for (let i = 0; i < s.data.length; i += 3) {
      if (s.data[i] === photo[i] && s.data[i + 1] === photo[i + 1] && s.data[i + 2] === photo[i + 2]) same++;
      else tinted++;
    }
    expect(tinted).toBeGreaterThan(0);
    expect(same / (same + tinted)).toBeGreaterThan(0.5);
  });

  it('the demo draws every digit of its scene with a box', async () => {
    const out = path.join(cli.dir, 'demo');
    const r = await convmap('demo', '--out', out);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/detections {2}14 boxes; against the true boxes at IoU 0\.5: precision 1\.000, recall 1\.000/);
    // Box strokes are pure white lines (the scene's digits are anti-aliased greys on black): a
    // white horizontal run of at least 20 px exists for every box's top edge.
    const { data, info } = await sharp(path.join(out, 'digit-scene.heatmap.png')).raw().toBuffer({ resolveWithObject: true });
    let runs = 0;
    for (let y = 0; y < info.height; y++) {
      let n = 0;
      for (let x = 0; x < info.width; x++) {
        const i = (y * info.width + x) * info.channels;
        n = data[i] === 255 && data[i + 1] === 255 && data[i + 2] === 255 ? n + 1 : 0;
        if (n === 20) runs++;
      }
    }
    expect(runs).toBeGreaterThanOrEqual(14);
  });
});

describe('photos with no cells', () => {
  it('warns per photo for a scale without cells, and gives a photo without any the status "no cells" in JSON and CSV', async () => {
    const tiny = path.join(photos, 'tiny.png');
    await sharp({ create: { width: 20, height: 20, channels: 3, background: { r: 0, g: 0, b: 0 } } }).png().toFile(tiny);
    const out = path.join(cli.dir, 'nocells');
    // 20 px < 28 px window at scale 1; at 2 the photo is 40 px: (40 − 28) / 4 + 1 = 4 cells a side.
    const warn = await convmap('heatmap', '--model', 'builtin', tiny, '--scales', '1,2', '--out', out);
    expect(warn.code).toBe(0);
    expect(warn.stderr).toMatch(/tiny\.png: no cells at scale 1 \(the photo is smaller than the model's 28×28 window there\)/);
    expect(warn.stdout).toMatch(/1: 0×0, 2: 4×4 cells/);

    const none = await convmap('heatmap', '--model', 'builtin', tiny, scene, '--scales', '1', '--out', out, '--csv', '--json');
    expect(none.code).toBe(0);
    const lines = none.stdout.trim().split('\n').map((l) => JSON.parse(l) as { photo?: string; status?: string; summary?: { done: number; noCells: unknown[] } });
    expect(lines.find((l) => l.photo === tiny)?.status).toBe('no cells');
    expect(lines.find((l) => l.photo === scene)?.status).toBe('done');
    expect(lines[lines.length - 1].summary).toMatchObject({ done: 1 });
    expect(lines[lines.length - 1].summary?.noCells).toHaveLength(1);
    const csv = (await fs.readFile(path.join(out, 'summary.csv'), 'utf8')).trim().split('\n');
    expect(csv.find((l) => l.startsWith(tiny))?.split(',')[1]).toBe('no cells');
  });
});

describe.skipIf(!hasCorpus)('default scales and class of a real model', () => {
  it('a 224-window model on a 451×300 photo gets scales that all give cells, and its top class (no background label)', async () => {
    const out = path.join(cli.dir, 'waste');
    const r = await convmap('heatmap', path.join(corpus, 'models/teachablemachine_waste12_valber'), path.join(corpus, 'images/skimage_chelsea.png'), '--out', out, '--json', '--no-cache');
    expect(r.code).toBe(0);
    const scores = JSON.parse(await fs.readFile(path.join(out, 'skimage_chelsea.scores.json'), 'utf8')) as { scales: { scale: number; rows: number; cols: number }[] };
    // Hand-worked in test/core/defaults.test.ts: objects from the 300-px side (0.747) to the 224 window at scale 1.
    expect(scores.scales.map((s) => s.scale)).toEqual([0.747, 0.864, 1]);
    // 0.747 → 224×337 px: one row, (337 − 224) / 32 + 1 = 4 columns.
    expect(scores.scales[0]).toMatchObject({ rows: 1, cols: 4 });
    expect(scores.scales.every((s) => s.rows > 0 && s.cols > 0)).toBe(true);
    const photo = JSON.parse(r.stdout.trim().split('\n')[0]) as { class: string };
    expect(photo.class).not.toMatch(/any/);
  });

  it('names an unlabelled class "class 8" once, and refuses an index out of range with the range', async () => {
    const model = path.join(corpus, 'models/fashion_mnist_mlp_4tsu');
    const ok = await convmap('heatmap', model, scene, '--class', '8', '--scales', '0.5', '--out', path.join(cli.dir, 'unlabelled'));
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/\(class 8, 0\.5: /);
    expect(ok.stdout).not.toMatch(/class class/);
    const bad = await convmap('heatmap', model, scene, '--class', '999', '--out', path.join(cli.dir, 'unlabelled'));
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe('convmap: --class 999: class index out of range 0–9 (fashion_mnist_mlp_4tsu has 10 classes)');
  });

  it('says a photo is not a model in one printable line', async () => {
    const r = await convmap('convert', path.join(corpus, 'images/skimage_chelsea.png'));
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/skimage_chelsea\.png: a photo, not a model/);
    expect(lines[0]).not.toMatch(/[\u0000-\u001f\u007f-\u009f\ufffd]/);
  });
});

describe('messages', () => {
  it('answers --version, a bad --preprocess, a --stride out of bounds, a misspelled flag, --out onto a file, --colormap jet and --quiet plainly', async () => {
    const pkg = JSON.parse(await fs.readFile(path.join(repo, 'package.json'), 'utf8')) as { version: string };
    const v = await convmap('--version');
    expect(v.stdout.trim()).toBe(pkg.version);

    const bgr = await convmap('heatmap', scene, '--preprocess', 'bgr');
    expect(bgr.code).not.toBe(0);
    expect(bgr.stderr).toMatch(/^error: option '--preprocess <mode>' argument 'bgr' is invalid\. unknown preprocessing "bgr": expected one of raw, unit, signed, inverted, ink, imagenet, caffe or normalize:MEAN\/STD \(of x \/ 255, one value or three R,G,B values each\)$/m);
    expect(bgr.stderr).not.toMatch(/\n\s+at /);
    const zeroStd = await convmap('heatmap', scene, '--preprocess', 'normalize:0.5/0');
    expect(zeroStd.code).not.toBe(0);
    expect(zeroStd.stderr).toMatch(/^error: option '--preprocess <mode>' argument 'normalize:0\.5\/0' is invalid\. "normalize:0\.5\/0": a std outside 0\.000001–1000; expected normalize:MEAN\/STD/m);

    // convert and heatmap bound --stride alike (the recipe's bound), before any model is read.
    for (const [cmd, ...args] of [['convert', scene], ['heatmap', '--model', 'builtin', scene]]) {
      const far = await convmap(cmd, ...args, '--stride', '2000');
      expect(far.code, cmd).not.toBe(0);
      expect(far.stderr, cmd).toMatch(/--stride must be a whole number from 1 to 1024, got "2000"/);
    }

    const typo = await convmap('heatmap', scene, '--colourmap', 'jet');
    expect(typo.code).not.toBe(0);
    expect(typo.stderr).toMatch(/Did you mean --colormap\?/);
    expect(typo.stderr.trim().split('\n').length).toBeLessThanOrEqual(3);

    const file = path.join(cli.dir, 'afile.txt');
    await fs.writeFile(file, 'x');
    const onFile = await convmap('heatmap', '--model', 'builtin', scene, '--out', file);
    expect(onFile.code).toBe(1);
    expect(onFile.stderr.trim()).toBe(`convmap: --out ${file}: is a file, not a folder`);

    const quiet = await convmap('heatmap', '--model', 'builtin', scene, '--colormap', 'jet', '--scales', '1', '--out', path.join(cli.dir, 'quiet'), '--quiet');
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).toBe('');
    expect(existsSync(path.join(cli.dir, 'quiet', 'scene.heatmap.png'))).toBe(true);
  });
});
