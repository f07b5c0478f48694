import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, MAX_WEIGHT_FILES } from '../../main/model/guards';
import { loadClassifier } from '../../main/model/load';
import { modelToArtifacts } from '../../main/model/artifacts';
import { writeH5 } from '../helpers/keras';
import { useWasm } from '../helpers/models';
import {
  expectRefusal, mkfifo, patchZip, runCli, smallTfjsModel, writeSparseKerasModel, writeTfjsModel, zeroBombZip, type CliRun, type TfjsModelFiles,
} from './bad-inputs';

/**
 * Model files whose size lies (issue 19, round 3): Keras files whose datasets declare gigabytes the
 * file never stored, .keras zips whose directory lies about packed sizes, side files that link out
 * of the model folder, manifests listing one shard 200 000 times, layer names tfjs trips on and
 * models nested 20 000 deep. Each is refused in one line naming the file; through the CLI with a
 * non-zero exit, nothing written, no temporary file left and peak memory far below what the file
 * declares.
 */

let root = '';
let files: TfjsModelFiles;
let runs = 0;

/** Peak RSS for a refused Keras bomb, in KiB: the CLI loading h5wasm and tfjs, far below the 1.8 GB declared. */
const H5_RSS_BOUND_KIB = 1200 * 1024;
/**
 * Peak RSS for a refused zip bomb, in KiB: the CLI's own footprint (about 190 MiB here, refused
 * before h5wasm loads) plus headroom, below what inflating the 256 MiB the archives hold would add.
 */
const ZIP_RSS_BOUND_KIB = 350 * 1024;

beforeAll(async () => {
  await useWasm();
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-sec-bombs-'));
  files = await smallTfjsModel();
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * `convmap convert FILE -o OUT` in a child with its own TMPDIR: one refusal line naming the file,
 * exit 1, OUT not made or empty, the TMPDIR left empty (no unpacked weights behind).
 */
async function convertRefused(file: string): Promise<{ run: CliRun; line: string }> {
  const n = ++runs;
  const tmp = path.join(root, `tmp-${n}`);
  await fs.mkdir(tmp);
  const out = path.join(root, `out-${n}`);
  const run = await runCli(['convert', file, '-o', out], { timeoutS: 120, timeFile: path.join(root, `time-${n}.txt`), env: { TMPDIR: tmp } });
  expect(run.timedOut, 'the CLI hung').toBe(false);
  expect(run.code).toBe(1);
  const own = run.stderr.split('\n').filter((l) => l.startsWith('convmap:'));
  expect(own).toHaveLength(1);
  expect(own[0].startsWith(`convmap: ${file}: `)).toBe(true);
  expect(await fs.readdir(out).catch(() => [])).toEqual([]);
  // (tsx, running the CLI from source, keeps its cache there: only Convmap's own names count)
  expect((await fs.readdir(tmp)).filter((f) => f.startsWith('convmap'))).toEqual([]);
  return { run, line: own[0] };
}

function expectRss(r: CliRun, boundKiB: number, what: string): void {
  if (r.maxRssKiB === null) return console.log('peak RSS not measured: /usr/bin/time is absent');
  console.log(`${what}: peak RSS ${Math.round(r.maxRssKiB / 1024)} MiB`);
  expect(r.maxRssKiB).toBeLessThan(boundKiB);
}

describe('Keras datasets declaring more than the file stores', () => {
  it('a Keras 2 .h5 whose written datasets fill it loads, with the values written (the control)', async () => {
    const file = path.join(root, 'control.h5');
    // 16 units: the one written chunk is the whole dataset.
    await writeSparseKerasModel(file, files, 'legacy', 16);
    const loaded = await loadClassifier(file);
    const head = loaded.model.getLayer('head').getWeights();
    expect(head.map((t) => t.shape)).toEqual([[72, 16], [16]]);
    expect(new Set(head.flatMap((t) => Array.from(t.dataSync())))).toEqual(new Set([0.5]));
    loaded.model.dispose();
  });

  it('refuses a 20 KB .h5 declaring a 1.87 GB kernel, before reading it', async () => {
    const file = path.join(root, 'sparse.h5');
    await writeSparseKerasModel(file, files, 'legacy', 6_500_000);
    const size = (await fs.stat(file)).size;
    expect(size).toBeLessThan(100_000);
    const err = await expectRefusal(file);
    expect(err.file).toBe(file);
    expect(err.message).toBe(
      `${file}: layer "head" (Dense): weight "model_weights/head/head/kernel:0" declares shape [72, 6500000], 1872000000 bytes (1785.3 MiB), ` +
        `more than the file stores: it holds ${size} bytes in all, 80 of them needed by the weights before it ` +
        '(chunks never written, or packed over 200:1): refused before reading',
    );
  });

  it('refuses a .keras whose model.weights.h5 declares a 1.87 GB kernel, naming the .keras file', async () => {
    const file = path.join(root, 'sparse.keras');
    await writeSparseKerasModel(file, files, 'keras3', 6_500_000);
    expect((await fs.stat(file)).size).toBeLessThan(100_000);
    const err = await expectRefusal(file);
    expect(err.file).toBe(file);
    expect(err.message).toMatch(
      new RegExp(`^${escape(file)}: layer "head" \\(Dense\\): weight "layers/dense/vars/0" declares shape \\[72, 6500000\\], 1872000000 bytes .*more than the file stores: it holds \\d+ bytes`),
    );
  });

  it('refuses a model whose layers add up past the 2 GiB budget, naming the largest, before reading any weight', async () => {
    const file = path.join(root, 'over-budget.h5');
    // Over the budget whatever the file stores: conv (3·3·1·2 + 2)·4 = 80 bytes, head (72 + 1)·8 000 000·4 = 2 336 000 000.
    await writeSparseKerasModel(file, files, 'legacy', 8_000_000);
    const err = await expectRefusal(file);
    expect(err.message).toBe(
      `${file}: layer "head" (Dense): the model's weights take 2336000080 bytes (2227.8 MiB) as float32 (this layer 2336000000 bytes (2227.8 MiB)), ` +
        'over the limit of 2147483648 bytes (2048.0 MiB) for a model: refused before reading them',
    );
  });

  for (const layout of ['legacy', 'keras3'] as const) {
    it(`convert on the ${layout === 'legacy' ? '.h5' : '.keras'} bomb: one line naming the file, exit 1, nothing written, memory far below 1.87 GB`, async () => {
      const file = path.join(root, `cli-sparse.${layout === 'legacy' ? 'h5' : 'keras'}`);
      await writeSparseKerasModel(file, files, layout, 6_500_000);
      const { run, line } = await convertRefused(file);
      expect(line).toMatch(/declares shape \[72, 6500000\].*more than the file stores/);
      expectRss(run, H5_RSS_BOUND_KIB, `${layout} bomb`);
    }, 150_000);
  }
});

describe('declared input sizes', () => {
  it('a 2 KB model.json declaring a 70000×70000 input is refused at load, naming the file (it took convert to 2.5 GB)', async () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ name: 'conv', filters: 2, kernelSize: 3, inputShape: [8, 8, 1] }),
        tf.layers.globalAveragePooling2d({ name: 'gap' }),
        tf.layers.dense({ name: 'head', units: 3, activation: 'softmax' }),
      ],
    });
    const a = await modelToArtifacts(model);
    model.dispose();
    const text = JSON.stringify({ format: 'layers-model', modelTopology: a.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }] });
    expect(text).toContain('[null,8,8,1]');
    const file = await writeTfjsModel(path.join(root, 'huge-input'), {
      json: JSON.parse(text.replace('[null,8,8,1]', '[null,70000,70000,1]')) as TfjsModelFiles['json'],
      weights: Buffer.from(a.weightData as ArrayBuffer),
    });
    expect((await expectRefusal(file)).message).toBe(`${file}: the model's input is 70000×70000×1, over the limit of 16777216 pixels (4096×4096) that Convmap runs a classifier on`);
  });
});

describe('.keras zip bombs whose directory lies', () => {
  const config = (): Buffer => Buffer.from(JSON.stringify(files.json.modelTopology));

  it('a directory claiming more packed bytes than the archive holds (to pass the ratio check) is refused before inflating', async () => {
    const file = path.join(root, 'claims-packed.keras');
    // 256 MiB of zeros packed into ~1.2 MB; the directory says 12.6 MB packed, ratio 20.
    await fs.writeFile(file, await zeroBombZip('model.weights.h5', 2 ** 28, 2 ** 28, { 'config.json': config() }, 13_212_057));
    const size = (await fs.stat(file)).size;
    const { run, line } = await convertRefused(file);
    expect(line).toBe(`convmap: ${file}: zip entry "model.weights.h5" claims 13212057 bytes (12.6 MiB) packed in a ${size} bytes (${(size / 2 ** 20).toFixed(1)} MiB) archive: its zip directory lies, refused`);
    expectRss(run, ZIP_RSS_BOUND_KIB, 'lying packed size');
  }, 150_000);

  it('an entry inflating past 200:1 of the bytes actually read is stopped as it streams, whatever the directory declares', async () => {
    const file = path.join(root, 'streamed-ratio.keras');
    // The directory's numbers pass every check (150 MiB from ~1.2 MB, ratio ~130); the data inflates at ~229:1.
    await fs.writeFile(file, await zeroBombZip('model.weights.h5', 2 ** 28, 150 * 2 ** 20, { 'config.json': config() }));
    const { run, line } = await convertRefused(file);
    expect(line).toMatch(
      new RegExp(`^convmap: ${escape(file)}: zip entry "model\\.weights\\.h5" unpacked (\\d+) bytes \\(\\d+\\.\\d MiB\\) from at most (\\d+) bytes( \\(\\d+\\.\\d MiB\\))? of the archive \\(ratio 2\\d\\d, over 200\\): refused as a zip bomb$`),
    );
    // Stopped early: a few MB inflated, not 150 MiB.
    const unpacked = Number(/unpacked (\d+) bytes/.exec(line)?.[1]);
    expect(unpacked).toBeLessThan(64 * 2 ** 20);
    expectRss(run, ZIP_RSS_BOUND_KIB, 'streamed ratio');
  }, 150_000);
});

describe('.keras entries over their own limit', () => {
  it('a config.json declaring 100 MiB (over the 64 MiB model JSON limit, ratio and archive checks passed) is refused before inflating', async () => {
    // A 1 MiB stored entry of random bytes makes the archive big enough for the claimed 600 000 packed bytes.
    const pad = new Uint8Array(2 ** 20).map((_, i) => (i * 2654435761) >>> 24);
    const zip = zipSync({
      'config.json': Buffer.from(JSON.stringify(files.json.modelTopology)),
      'model.weights.h5': new Uint8Array(8),
      'pad.bin': [pad, { level: 0 }],
    });
    const file = path.join(root, 'big-config.keras');
    await fs.writeFile(file, patchZip(zip, 'config.json', { csize: 600_000, usize: 100 * 2 ** 20 }, false));
    expect((await expectRefusal(file)).message).toBe(`${file}: zip entry "config.json" declares 104857600 bytes (100.0 MiB), over the limit of 67108864 bytes (64.0 MiB) for it`);
  });
});

describe('side files stay inside the model folder', () => {
  it('a classes.txt or metadata.json linking out of the folder is not read; one linking inside is', async () => {
    await fs.writeFile(path.join(root, 'elsewhere.txt'), `${Array.from({ length: 100 }, (_, i) => `secret${i}`).join('\n')}\n`);
    await fs.writeFile(path.join(root, 'elsewhere.json'), JSON.stringify({ labels: ['x', 'y', 'z'] }));
    const out = path.dirname(await writeTfjsModel(path.join(root, 'links-out'), files));
    await fs.symlink(path.join(root, 'elsewhere.txt'), path.join(out, 'classes.txt'));
    await fs.symlink('../elsewhere.json', path.join(out, 'metadata.json'));
    const outside = await loadClassifier(out);
    outside.model.dispose();
    expect(outside.labels).toBeNull();

    const inside = path.dirname(await writeTfjsModel(path.join(root, 'links-in'), files));
    await fs.mkdir(path.join(inside, 'names'));
    await fs.writeFile(path.join(inside, 'names', 'list.txt'), 'cat\ndog\nbird\n');
    await fs.symlink('names/list.txt', path.join(inside, 'labels.txt'));
    const loaded = await loadClassifier(inside);
    loaded.model.dispose();
    expect(loaded.labels).toEqual(['cat', 'dog', 'bird']);
  });

  it('a labels.txt beside a .h5 that links out, is a FIFO, or is over 16 MiB is not read', async () => {
    for (const kind of ['link', 'fifo', 'huge'] as const) {
      const dir = path.join(root, `h5-side-${kind}`);
      await fs.mkdir(dir);
      const file = path.join(dir, 'model.h5');
      await writeSparseKerasModel(file, files, 'legacy', 3);
      const labels = path.join(dir, 'labels.txt');
      if (kind === 'link') await fs.symlink(path.join(root, 'elsewhere.txt'), labels);
      if (kind === 'fifo') mkfifo(labels);
      if (kind === 'huge') {
        await fs.writeFile(labels, 'a\nb\nc\n');
        await fs.truncate(labels, 17 * 2 ** 20); // sparse: no disk used
      }
      const loaded = await loadClassifier(file);
      loaded.model.dispose();
      expect(loaded.labels, kind).toBeNull();
    }
  }, 30_000);
});

describe('weight path lists', () => {
  it(`refuses a manifest listing one shard 200 000 times, before touching a file`, async () => {
    const json = structuredClone(files.json);
    json.weightsManifest[0].paths = Array.from({ length: 200_000 }, () => 'weights.bin');
    const model = await writeTfjsModel(path.join(root, 'many-paths'), { ...files, json });
    const err = await expectRefusal(model);
    expect(err.message).toBe(`${model}: weightsManifest lists 200000 weight files, over the limit of ${MAX_WEIGHT_FILES}`);
  }, 30_000);

  const malformed: [string, (j: TfjsModelFiles['json']) => void, string][] = [
    ['a null weight group', (j) => Object.assign(j, { weightsManifest: [null] }), 'a weightsManifest group is not an object'],
    ['a weight named by a number', (j) => Object.assign(j.weightsManifest[0].weights[0], { name: 5 }), 'weightsManifest has a weight without a name'],
  ];
  for (const [what, mutate, message] of malformed) {
    it(`refuses ${what} in one line naming the file`, async () => {
      const json = structuredClone(files.json);
      mutate(json);
      const model = await writeTfjsModel(path.join(root, `malformed-${what.replaceAll(' ', '-')}`), { ...files, json });
      expect((await expectRefusal(model)).message).toBe(`${model}: ${message}`);
    });
  }

  it('refuses a manifest listing a shard twice, even under the cap', async () => {
    const json = structuredClone(files.json);
    json.weightsManifest[0].paths = ['weights.bin', 'weights.bin'];
    const model = await writeTfjsModel(path.join(root, 'twice'), { ...files, json });
    expect((await expectRefusal(model)).message).toBe(`${model}: weightsManifest lists the weight file "weights.bin" more than once`);
  });
});

/** A functional conv → flatten → dense model's files (inp, conv, flat, head) with `from` renamed `to` everywhere. */
async function functionalRenamed(from: string, to: string): Promise<TfjsModelFiles> {
  const inp = tf.input({ shape: [8, 8, 1], name: 'inp' });
  const c = tf.layers.conv2d({ name: 'conv', filters: 2, kernelSize: 3 }).apply(inp) as tf.SymbolicTensor;
  const f = tf.layers.flatten({ name: 'flat' }).apply(c) as tf.SymbolicTensor;
  const h = tf.layers.dense({ name: 'head', units: 3, activation: 'softmax' }).apply(f) as tf.SymbolicTensor;
  const model = tf.model({ inputs: inp, outputs: h });
  try {
    const a = await modelToArtifacts(model);
    const text = JSON.stringify({ format: 'layers-model', modelTopology: a.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }] })
      .replaceAll(`"${from}"`, `"${to}"`)
      .replaceAll(`"${from}/`, `"${to}/`);
    return { json: JSON.parse(text) as TfjsModelFiles['json'], weights: Buffer.from(a.weightData as ArrayBuffer) };
  } finally {
    model.dispose();
  }
}

describe('refusals that name the file (and the layer)', () => {
  for (const [layer, className, name] of [['conv', 'Conv2D', 'constructor'], ['inp', 'InputLayer', 'hasOwnProperty'], ['head', 'Dense', '__proto__']] as const) {
    it(`a layer named "${name}" in model.json: one line naming the file and the layer`, async () => {
      const model = await writeTfjsModel(path.join(root, `named-${name}`), await functionalRenamed(layer, name));
      const err = await expectRefusal(model);
      expect(err.message).toBe(`${model}: layer "${name}" (${className}): the layer name "${name}" is a built-in JavaScript property name, which TensorFlow.js cannot load: rename the layer`);
    });
  }

  it('a layer named "constructor" in a Keras .h5\'s model_config: named with the file', async () => {
    const renamed = await functionalRenamed('conv', 'constructor');
    const file = path.join(root, 'constructor.h5');
    await writeH5(file, (h5) => {
      h5.create_attribute('model_config', JSON.stringify(renamed.json.modelTopology));
      h5.create_attribute('keras_version', '2.15.0');
      h5.create_group('model_weights');
    });
    expect((await expectRefusal(file)).message).toBe(
      `${file}: layer "constructor" (Conv2D): the layer name "constructor" is a built-in JavaScript property name, which TensorFlow.js cannot load: rename the layer`,
    );
  });

  /** 20 000 Sequentials, each the only layer of the one around it, around one Dense. */
  function nested(depth: number): string {
    const open = '{"class_name":"Sequential","config":{"name":"s","layers":['.repeat(depth);
    return `${open}{"class_name":"Dense","config":{"name":"d","units":2}}${']}}'.repeat(depth)}`;
  }

  it('20 000 nested Sequentials in model.json: refused from the JSON\'s depth, before any recursion', async () => {
    const dir = path.join(root, 'deep');
    await fs.mkdir(dir);
    const model = path.join(dir, 'model.json');
    await fs.writeFile(model, `{"format":"layers-model","modelTopology":${nested(20_000)},"weightsManifest":[]}`);
    expect((await expectRefusal(model)).message).toBe(`${model}: its JSON nests deeper than ${MAX_JSON_DEPTH} levels (models within models?): refused before reading it`);
  });

  it('20 000 nested Sequentials in an .h5\'s model_config: refused naming the file', async () => {
    const file = path.join(root, 'deep.h5');
    await writeH5(file, (h5) => {
      h5.create_attribute('model_config', nested(20_000));
      h5.create_attribute('keras_version', '2.15.0');
      h5.create_group('model_weights');
    });
    expect((await expectRefusal(file)).message).toBe(`${file}: the model_config attribute nests deeper than ${MAX_JSON_DEPTH} levels (models within models?): refused before reading it`);
  });

  it('a model nested 50 deep (far past real ones, within the depth limit) still reaches tfjs', async () => {
    // The depth limit must leave room for real nesting: this one is refused later, for its missing weights.
    const dir = path.join(root, 'nested-50');
    await fs.mkdir(dir);
    const model = path.join(dir, 'model.json');
    const topology = nested(50).replace('{"class_name":"Dense","config":{"name":"d","units":2}}', '{"class_name":"Dense","config":{"name":"d","units":2,"batch_input_shape":[null,4]}}');
    await fs.writeFile(model, `{"format":"layers-model","modelTopology":${topology},"weightsManifest":[]}`);
    const err = await expectRefusal(model);
    expect(err.message).not.toMatch(/nests deeper/);
    expect(err.message.startsWith(`${model}: `)).toBe(true);
  });
});
