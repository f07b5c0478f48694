import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliSandbox, REPO, runConvmap } from '../helpers/cli';

// Rough edges a user met on the command line: device fallback, tfjs's banner, cut refusals, option messages.
const repo = REPO;
const corpus = path.resolve(repo, '../shared/corpus');
const hasCorpus = existsSync(corpus);
if (!hasCorpus) console.log(`skipping corpus CLI polish tests: ${corpus} is absent`);

const cli = cliSandbox('convmap-polish-', { CONVMAP_BACKEND: undefined });
const { convmap } = cli;

const lines = (text: string): string[] => text.split('\n').filter(Boolean);

let digit: string;
beforeAll(async () => {
  digit = path.join(cli.dir, 'photos', 'digit.png');
  await fs.mkdir(path.dirname(digit));
  await sharp({ create: { width: 40, height: 40, channels: 3, background: '#000' } }).png().toFile(digit);
});

describe('convmap heatmap: devices and what is printed', () => {
  it('an explicit --device that cannot run is refused in one line, not run on a tfjs backend, and leaves no --out folder', async () => {
    const out = path.join(cli.dir, 'cuda-out');
    const r = await convmap('heatmap', '--model', 'builtin', digit, '--device', 'cuda', '--out', out);
    if (r.code === 0) {
      // A machine where the CUDA provider loads runs there.
      expect(r.stdout).toMatch(/with onnx on cuda/);
    } else {
      expect(r.code).toBe(1);
      expect(lines(r.stderr)).toEqual([expect.stringMatching(/^convmap: ONNX Runtime device 'cuda' could not run the model: .+ \(--device auto falls back to ONNX Runtime's CPU\)$/)]);
      expect(r.stdout).not.toMatch(/wasm|cpu \(\d+ workers\)/);
      expect(existsSync(out)).toBe(false);
    }
  });

  it('with --device auto a missing GPU provider is not printed, but kept in --json; no tfjs banner even with --quiet', async () => {
    const plain = await convmap('heatmap', '--model', 'builtin', digit, '--out', path.join(cli.dir, 'auto'), '--no-cache');
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/with onnx on (cpu|cuda)/);
    expect(plain.stdout).not.toMatch(/not used/);
    expect(plain.stderr).not.toMatch(/TensorFlow\.js in Node\.js|={10}/);
    const quiet = await convmap('heatmap', '--model', 'builtin', digit, '--out', path.join(cli.dir, 'quiet'), '--quiet', '--no-cache');
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
    const json = await convmap('heatmap', '--model', 'builtin', digit, '--out', path.join(cli.dir, 'json'), '--json', '--no-cache');
    const summary = (JSON.parse(lines(json.stdout).at(-1) ?? '') as { summary: { device: string; backendNotes: string[] } }).summary;
    if (summary.device === 'cpu' && process.platform === 'linux') expect(summary.backendNotes).toEqual([expect.stringMatching(/^onnx device cuda: .+/)]);
  });

  it('a GPU provider that loads but fails on the model (a stand-in: no GPU here): the run finishes on the CPU, says so even with --quiet, and draws what the CPU draws', async () => {
    const onCpu = await convmap('heatmap', '--model', 'builtin', digit, '--out', path.join(cli.dir, 'on-cpu'), '--device', 'cpu', '--no-cache');
    expect(onCpu.code).toBe(0);
    for (const at of ['open', 'run'] as const) {
      const out = path.join(cli.dir, `fell-back-${at}`);
      const r = await runConvmap(['heatmap', '--model', 'builtin', digit, '--out', out, '--quiet', '--no-cache'], { ...cli.env(), CONVMAP_TEST_DEVICE_FAILS: `cuda:${at}` });
      expect(r.code, r.stderr).toBe(0);
      const said = at === 'open' ? /^device: cuda could not open the model \(.*test hook: cuda fails on every model\): it runs on the CPU$/ : /^device: cuda failed on a pass of the model \(test hook: cuda fails on every pass\): it runs on the CPU$/;
      expect(lines(r.stdout).filter((l) => l.startsWith('device:'))).toEqual([expect.stringMatching(said)]);
      expect(r.stdout).toMatch(/ with onnx on cpu \(/);
      expect(await fs.readFile(path.join(out, 'digit.heatmap.png'))).toEqual(await fs.readFile(path.join(cli.dir, 'on-cpu', 'digit.heatmap.png')));
      const json = await runConvmap(['heatmap', '--model', 'builtin', digit, '--out', `${out}-json`, '--json', '--no-cache'], { ...cli.env(), CONVMAP_TEST_DEVICE_FAILS: `cuda:${at}` });
      const summary = (JSON.parse(lines(json.stdout).at(-1) ?? '') as { summary: { device: string; deviceFallbacks: string[] } }).summary;
      expect(summary.device).toBe('cpu');
      expect(summary.deviceFallbacks).toEqual([expect.stringMatching(new RegExp(said.source.replace('^device: ', '^')))]);
    }
  });

  it('the demo (what npm start runs without Electron) does not print a missing GPU provider either', async () => {
    const r = await convmap('demo', '--out', path.join(cli.dir, 'demo'));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/backend {5}onnx \(ONNX Runtime\) on (cpu|cuda)/);
    expect(r.stdout).not.toMatch(/not used/);
  });

  it.skipIf(!existsSync('/usr/bin/script'))('in a terminal, a photo of several tiles shows its tiles done on the progress bar, not only its name', async () => {
    // util-linux's script(1) gives the CLI a pseudo-terminal, as a user's shell does.
    const { execFile } = await import('node:child_process');
    const photo = path.join(cli.dir, 'photos', 'wide.png');
    await sharp({ create: { width: 300, height: 200, channels: 3, background: '#000' } }).png().toFile(photo);
    const cmd = [process.execPath, path.join(repo, 'bin/convmap.mjs'), 'heatmap', '--model', 'builtin', photo, '--scales', '1,0.5', '--out', path.join(cli.dir, 'tty'), '--no-cache']
      .map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    const out = await new Promise<string>((resolve, reject) => {
      execFile('/usr/bin/script', ['-qefc', cmd, '/dev/null'], { cwd: repo, env: { ...process.env, ...cli.env(), TERM: 'xterm' }, maxBuffer: 16 << 20 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
    const shown = [...out.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').matchAll(/wide\.png \((\d+)\/(\d+) tiles\)/g)];
    expect(shown.length).toBeGreaterThan(0);
    const [, done, total] = shown.at(-1) ?? [];
    // Two scales: at least one tile each; the last state drawn is the whole photo done.
    expect(Number(total)).toBeGreaterThanOrEqual(2);
    expect(done).toBe(total);
  });

  it('names a photo that is not an image once, counts one skipped file in the singular, and says numeric ranges in words', async () => {
    const folder = path.join(cli.dir, 'mixed');
    await fs.mkdir(folder);
    await fs.copyFile(digit, path.join(folder, 'a.png'));
    await fs.writeFile(path.join(folder, 'readme.txt'), 'not a photo\n');
    const bad = path.join(cli.dir, 'notes.png');
    await fs.writeFile(bad, 'these are my notes, not a picture\n');
    const r = await convmap('heatmap', '--model', 'builtin', folder, bad, '--out', path.join(cli.dir, 'mixed-out'), '--no-cache');
    expect(r.code).toBe(1);
    expect(`${r.stdout}\n${r.stderr}`.split('not a supported image')).toHaveLength(2);
    expect(r.stdout).toMatch(/^skipped: 1 file that is not an image or a sub-folder$/m);
    expect(r.stdout).toMatch(/^failed: 1\n {2}.*notes\.png: not a supported image/m);

    const threshold = await convmap('heatmap', '--model', 'builtin', digit, '--threshold', 'abc');
    expect(lines(threshold.stderr)).toEqual(['convmap: --threshold must be a number from 0 to 1, got "abc"']);
    const opacity = await convmap('heatmap', '--model', 'builtin', digit, '--opacity', '');
    expect(lines(opacity.stderr)).toEqual(['convmap: --opacity must be a number from 0 to 1, got ""']);
    const workers = await convmap('heatmap', '--model', 'builtin', digit, '--workers', '0');
    expect(lines(workers.stderr)).toEqual(['convmap: --workers must be a whole number from 1 to 64, got "0"']);
  });

  it('a refused --class leaves no empty --out folder', async () => {
    const out = path.join(cli.dir, 'class-out');
    const r = await convmap('heatmap', '--model', 'builtin', digit, '--class', '99', '--out', out);
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual([expect.stringMatching(/^convmap: --class 99: class index out of range 0–10 \(Built-in digits has 11 classes\)$/)]);
    expect(existsSync(out)).toBe(false);
  });
});

describe.skipIf(!hasCorpus)('convmap convert: refusals', () => {
  it('refuses a graph model with its whole advice in one line, and with --json also as {ok:false, file, error} on stdout', async () => {
    const model = path.join(corpus, 'models/graph_model_subhadip_mnist');
    const r = await convmap('convert', model, '--json');
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(/graph_model_subhadip_mnist\/model\.json: is a TensorFlow\.js graph model .* --output_format=tfjs_layers_model\)\.$/);
    const j = JSON.parse(r.stdout) as { ok: boolean; file: string; error: string };
    expect(j).toEqual({ ok: false, file: path.join(model, 'model.json'), error: r.stderr.trim().replace(/^convmap: /, '') });
  });

  it('guesses [-1, 1] for a nested keras.applications MobileNet trunk, says why in the report and warns that it is a guess', async () => {
    const model = path.join(corpus, 'models/multiout_agegender_mobilenet025_wiznetmaker.h5');
    const r = await convmap('convert', model, '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { preprocess: string; preprocessGuess: { why: string } };
    expect(j.preprocess).toBe('signed');
    expect(j.preprocessGuess.why).toBe("guessed from the nested keras.applications trunk 'mobilenet_0.25_224'");
    expect(r.stderr).toMatch(/^convmap: warning: preprocessing 'signed' guessed from the nested keras\.applications trunk 'mobilenet_0\.25_224'; pass --preprocess/m);
    const given = await convmap('convert', model, '--preprocess', 'unit');
    expect(given.stdout).toMatch(/^preprocess {2}unit$/m);
    expect(given.stderr).not.toMatch(/preprocessing/);
  });

  it('guesses `ink` for a 28×28 grey ONNX model, tells a 64×64 grey one guessed [0, 1] of `ink`, and a colour one of neither', async () => {
    const mnist = await convmap('convert', path.join(corpus, 'models/onnx_mnist8_cntk_emclab/mnist-8.onnx'));
    expect(mnist.code).toBe(0);
    expect(mnist.stdout).toMatch(/^preprocess {2}ink \(guessed: a grey classifier of 28×28 pixels, as MNIST-like datasets are light strokes on black: x \/ 255, inverted on a light photo/m);
    expect(lines(mnist.stderr).filter((l) => l.includes('preprocessing'))).toEqual([expect.stringMatching(/^convmap: warning: preprocessing 'ink' guessed: a grey classifier of 28×28 pixels, .*; pass --preprocess if the scores look wrong$/)]);
    const grey = await convmap('convert', path.join(corpus, 'models/onnx_pytorch_gap_sigmoid_gray64_penble1109'));
    expect(grey.code).toBe(0);
    expect(lines(grey.stderr).filter((l) => l.includes('preprocessing'))).toEqual([expect.stringMatching(/^convmap: warning: preprocessing 'unit' guessed: .*; pass --preprocess if the scores look wrong \(--preprocess ink for a model of white strokes on black given dark ink on light photos\)$/)]);
    const colour = await convmap('convert', path.join(corpus, 'models/onnx_tf2onnx_squeezenet_nhwc_cifar10_emclab'));
    expect(colour.code).toBe(0);
    expect(colour.stderr).toMatch(/^convmap: warning: preprocessing 'unit' guessed: .*; pass --preprocess if the scores look wrong$/m);
    expect(colour.stderr).not.toMatch(/ink/);
  });
});
