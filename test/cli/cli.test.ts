import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliSandbox, REPO } from '../helpers/cli';

const repo = REPO;
const corpus = path.resolve(repo, '../shared/corpus');
const hasCorpus = existsSync(corpus);
if (!hasCorpus) console.log(`skipping corpus CLI tests: ${corpus} is absent`);

const cli = cliSandbox('convmap-cli-');
const { convmap } = cli;

describe.skipIf(!hasCorpus)('convmap convert', () => {
  it('prints one JSON object with window, stride, labels, head, padding and a measured exact equivalence for a valid-padding model', async () => {
    const r = await convmap('convert', path.join(corpus, 'models/detexify369_yuhuishishishi'), '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as Record<string, unknown> & { equivalence: Record<string, unknown>; labels: string[]; head: string[] };
    expect(j.window).toEqual([32, 32]);
    expect(j.stride).toEqual([4, 4]);
    expect(j.labels).toHaveLength(369);
    expect(j.padding).toBe('valid');
    expect(j.head.join('\n')).toMatch(/Conv2D 4×4×128 → 128/);
    expect(j.equivalence.exact).toBe(true);
    expect(j.equivalence.maxRelDiff as number).toBeLessThanOrEqual(1e-4);
    // A small model: the check takes the full 6×6 grid of cells.
    expect(j.equivalence.cellsChecked).toBe(36);
    expect(j.equivalence.grade).toBe('exact');
    expect(j.equivalence.topClassMismatch).toBe(0);
    expect(r.stderr).not.toMatch(/warning/);
    expect(j.backend).toBe('wasm');
  });

  it('reports a same-padding model as not exact, with the measured difference and the padded layers', async () => {
    const r = await convmap('convert', path.join(corpus, 'models/quickdraw100_aniketdogra'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^padding\s+mixed$/m);
    // Three 'same' convolutions inside a 28-pixel window: most cells' top class differs from the crop's.
    expect(r.stdout).toMatch(/equivalence not representative: 36 cells on a 68×68 input/);
    expect(r.stdout).toMatch(/mean \|diff\| \d\.\d\de-\d, top class differs from the crop's in \d+\.\d% of cells/);
    expect(r.stderr).toMatch(/^convmap: warning: the converted map is NOT REPRESENTATIVE of the classifier: the top class differs from the crop's in \d+\.\d% of the cells checked \(more than half\)/m);
    expect(r.stdout).toMatch(/conv2d_2 \('same' 3×3\)/);
  });

  it('saves a converted model that heatmap can use directly, with the sidecar', async () => {
    const out = path.join(cli.dir, 'fcn');
    const r = await convmap('convert', path.join(corpus, 'models/oldformat_multigroup_mnist_shabab991'), '-o', out, '--preprocess', 'inverted');
    expect(r.code).toBe(0);
    const sidecar = JSON.parse(await fs.readFile(path.join(out, 'convmap.json'), 'utf8')) as { preprocess: string; window: number[] };
    expect(sidecar.preprocess).toBe('inverted');
    expect(sidecar.window).toEqual([28, 28]);
    const left = (await fs.readdir(out)).filter((f) => f.endsWith('.tmp'));
    expect(left).toEqual([]);
  });

  it('refuses a graph model in one line naming the file, with a non-zero exit', async () => {
    const r = await convmap('convert', path.join(corpus, 'models/graph_model_subhadip_mnist'));
    expect(r.code).not.toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/graph_model_subhadip_mnist\/model\.json: is a TensorFlow\.js graph model/);
  });
});

describe.skipIf(!hasCorpus)('convmap convert: outputs and labels (issue 9)', () => {
  it('converts a two-output model\'s first class-score output by default, lists both outputs, and converts another with --output', async () => {
    const model = path.join(corpus, 'models/multiout_agegender_mobilenet025_wiznetmaker.h5');
    const r = await convmap('convert', model, '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { output: string; outputs: { name: string; shape: (number | null)[]; kind: string }[]; labels: string[]; window: number[]; stride: number[]; equivalence: { grade: string } };
    expect(j.output).toBe('gender');
    expect(j.outputs).toEqual([{ name: 'gender', shape: [null, 2], kind: 'classes' }, { name: 'age', shape: [null, 7], kind: 'classes' }]);
    expect(j.labels).toHaveLength(2);
    expect([j.window, j.stride]).toEqual([[224, 224], [32, 32]]);
    expect(['exact', 'close', 'approximate', 'not representative']).toContain(j.equivalence.grade);

    const text = await convmap('convert', model, '--output', 'age');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^outputs {5}gender \[2\] classes, not converted$/m);
    expect(text.stdout).toMatch(/^ {12}age \[7\] classes, converted$/m);
    expect(text.stdout).toMatch(/^labels {6}class 0, class 1, class 2, class 3, class 4, class 5, class 6$/m);

    const out = path.join(cli.dir, 'hm-age');
    const hm = await convmap('heatmap', model, path.join(corpus, 'images/skimage_astronaut.png'), '--output', 'age', '--scales', '0.5', '--out', out, '--json');
    expect(hm.code).toBe(0);
    const scores = JSON.parse(await fs.readFile(path.join(out, 'skimage_astronaut.scores.json'), 'utf8')) as { perClass: unknown[]; scales: { rows: number; cols: number }[] };
    expect(scores.perClass).toHaveLength(7);
    // 512 × 0.5 = 256 px: (256 − 224) / 32 + 1 = 2 cells per axis.
    expect(scores.scales[0]).toMatchObject({ rows: 2, cols: 2 });

    const bad = await convmap('convert', model, '--output', 'height');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim()).toBe(`convmap: ${model}: has no output named "height" (outputs: "gender" [2] classes, "age" [7] classes)`);
  });

  it('--labels names the classes, is remembered in convmap.json, and heatmap takes its own --labels', async () => {
    const labels = path.join(cli.dir, 'digits.txt');
    await fs.writeFile(labels, ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'].join('\n'));
    const out = path.join(cli.dir, 'fenix-fcn');
    const r = await convmap('convert', path.join(corpus, 'models/keras3_prefix_mnist_fenix900'), '--labels', labels, '-o', out, '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { labels: string[]; labelsFile: string; equivalence: { grade: string } };
    expect(j.labels[9]).toBe('nine');
    expect(j.labelsFile).toBe(labels);
    expect(j.equivalence.grade).toBe('exact');
    const sidecar = JSON.parse(await fs.readFile(path.join(out, 'convmap.json'), 'utf8')) as { labels: string[]; labelsFile: string };
    expect(sidecar.labels).toEqual(j.labels);
    expect(sidecar.labelsFile).toBe(labels);

    const korean = path.join(cli.dir, 'ko.json');
    await fs.writeFile(korean, JSON.stringify(['영', '일', '이', '삼', '사', '오', '육', '칠', '팔', '구']));
    const hm = await convmap('heatmap', out, path.join(corpus, 'images/skimage_camera.png'), '--labels', korean, '--class', '삼', '--scales', '0.1', '--out', path.join(cli.dir, 'hm-ko'), '--json');
    expect(hm.code).toBe(0);
    const first = JSON.parse(hm.stdout.split('\n')[0]) as { class: string };
    expect(first.class).toBe('삼');

    const wrong = await convmap('convert', path.join(corpus, 'models/keras3_prefix_mnist_fenix900'), '--labels', korean.replace('ko.json', 'none.txt'));
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr.split('\n').filter(Boolean)).toHaveLength(1);
  });
});

describe.skipIf(!hasCorpus)('convmap heatmap', () => {
  it('writes an upright full-size overlay PNG and a scores JSON for an EXIF-rotated photo', async () => {
    const out = path.join(cli.dir, 'hm');
    const photo = path.join(corpus, 'images/exif_Landscape_6.jpg');
    const r = await convmap('heatmap', path.join(corpus, 'models/detexify369_yuhuishishishi'), photo, '--scales', '0.1,0.05', '--out', out, '--json');
    expect(r.code).toBe(0);
    const png = path.join(out, 'exif_Landscape_6.heatmap.png');
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height]).toEqual([1800, 1200]);
    const scores = JSON.parse(await fs.readFile(path.join(out, 'exif_Landscape_6.scores.json'), 'utf8')) as {
      imageSize: { width: number; height: number }; scales: { scale: number; rows: number; cols: number }[];
      averaged: { rows: number; cols: number; classes: number }; perClass: { maxScore: number; top: { score: number }[] }[];
    };
    expect(scores.imageSize).toEqual({ width: 1800, height: 1200 });
    // 0.1 → 120×180 px: (120 − 32) / 4 + 1 = 23 rows, (180 − 32) / 4 + 1 = 38 columns.
    expect(scores.scales[0]).toMatchObject({ scale: 0.1, rows: 23, cols: 38 });
    expect(scores.averaged.classes).toBe(369);
    expect(scores.perClass).toHaveLength(369);
    // The summary lists each class's strongest cells, not the whole grid: its size does not grow with the photo.
    for (const c of scores.perClass) {
      expect(c.top).toHaveLength(5);
      expect(c.top[0].score).toBe(c.maxScore);
      for (let i = 1; i < 5; i++) expect(c.top[i].score).toBeLessThanOrEqual(c.top[i - 1].score);
    }
    expect(existsSync(path.join(out, 'exif_Landscape_6.scores.npy'))).toBe(false);
  });

  it('reports a scale at which the photo is smaller than the window as zero cells, not an error', async () => {
    const out = path.join(cli.dir, 'small');
    const r = await convmap('heatmap', path.join(corpus, 'models/detexify369_yuhuishishishi'), path.join(corpus, 'images/skimage_chelsea.png'), '--scales', '0.2,0.05', '--out', out);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/0\.05: 0×0 cells/);
  });

  it('opens a Teachable Machine Keras folder (keras_model.h5 + labels.txt) given as the model, as the window does', async () => {
    const folder = path.join(corpus, 'models/teachablemachine_keras_water2_963n');
    // Teachable Machine writes "INDEX NAME" a line; the index is not part of the class's name.
    const expected = (await fs.readFile(path.join(folder, 'labels.txt'), 'utf8')).split('\n').map((l) => l.trim()).filter(Boolean).map((l) => l.replace(/^\d+\s+/, ''));
    const out = path.join(cli.dir, 'tm-keras-folder');
    const r = await convmap('heatmap', folder, path.join(corpus, 'images/skimage_coffee.png'), '--scales', '1', '--out', out, '--json');
    expect(r.stderr).not.toMatch(/no model\.json|no photos/);
    expect(r.code).toBe(0);
    const scores = JSON.parse(await fs.readFile(path.join(out, 'skimage_coffee.scores.json'), 'utf8')) as { labels: string[]; preprocess: string };
    expect(scores.labels).toEqual(expected);
    expect(scores.preprocess).toBe('signed');
  });

  it('goes on past an unreadable photo, names it, and exits non-zero', async () => {
    const bad = path.join(cli.dir, 'not-an-image.png');
    await fs.writeFile(bad, 'hello');
    const out = path.join(cli.dir, 'mixed');
    const r = await convmap('heatmap', path.join(corpus, 'models/detexify369_yuhuishishishi'), bad, path.join(corpus, 'images/skimage_chelsea.png'), '--scales', '0.3', '--out', out);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/not-an-image\.png: not a supported image/);
    expect(existsSync(path.join(out, 'skimage_chelsea.heatmap.png'))).toBe(true);
  });
});

describe('convmap heatmap on folders (built-in model)', () => {
  let folder: string;
  beforeAll(async () => {
    folder = path.join(cli.dir, 'photos');
    await fs.mkdir(path.join(folder, 'sub'), { recursive: true });
    const { writeScene } = await import('../batch/fixtures');
    await writeScene(path.join(folder, 'one.jpg'), 1);
    await writeScene(path.join(folder, 'sub', 'two.png'), 2);
    await fs.writeFile(path.join(folder, 'readme.txt'), 'not an image');
  });

  it('processes a folder recursively with CSV and legend, prints a summary, exits 0; a second run is cached and adds suffixes', async () => {
    const out = path.join(cli.dir, 'batch-out');
    const r = await convmap('heatmap', '--model', 'builtin', folder, '--recursive', '--out', out, '--scales', '1,0.75', '--csv', '--legend', '--boxes', '--class', 'any');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^2 of 2 photos done in .* with wasm \(\d+ workers\)$/m);
    expect(r.stdout).toMatch(/^skipped: 1 /m);
    expect((await fs.readdir(out)).filter((f) => !f.startsWith('.')).sort()).toEqual(['detections.csv', 'one.heatmap.png', 'one.scores.json', 'sub', 'summary.csv']);
    expect((await fs.readdir(path.join(out, 'sub'))).sort()).toEqual(['two.heatmap.png', 'two.scores.json']);
    // Other settings (no score files): not the same outputs, so not resumed; cached, under new names.
    const again = await convmap('heatmap', '--model', 'builtin', folder, '--recursive', '--out', out, '--scales', '1,0.75', '--scores', 'none');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/2 from the cache/);
    expect(existsSync(path.join(out, 'one-2.heatmap.png'))).toBe(true);
  });

  it('exits non-zero naming each failed photo, and refuses an unwritable output folder in one line', async () => {
    const bad = path.join(cli.dir, 'bad-folder');
    await fs.mkdir(bad);
    await fs.copyFile(path.join(folder, 'one.jpg'), path.join(bad, 'ok.jpg'));
    await fs.writeFile(path.join(bad, 'zero.png'), '');
    const r = await convmap('heatmap', '--model', 'builtin', bad, '--out', path.join(cli.dir, 'bad-out'), '--no-cache');
    expect(r.code).not.toBe(0);
    expect(r.stdout).toMatch(/^1 of 2 photos done/m);
    expect(r.stdout).toMatch(/zero\.png: empty file \(0 bytes\), not an image/);
    const file = path.join(cli.dir, 'plain-file');
    await fs.writeFile(file, 'x');
    const ro = await convmap('heatmap', '--model', 'builtin', bad, '--out', path.join(file, 'out'), '--no-cache');
    expect(ro.code).not.toBe(0);
    expect(ro.stderr.trim().split('\n')).toEqual([`convmap: cannot write ${path.join(file, 'out')}: a path component is not a folder (ENOTDIR: not a directory, stat '${path.join(file, 'out')}')`]);
  });
});
