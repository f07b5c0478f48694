import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConverted } from '../../main/convert/save';
import { ModelError } from '../../main/model/errors';
import { MAX_MODEL_JSON_BYTES } from '../../main/model/guards';
import { loadClassifier } from '../../main/model/load';
import { useWasm } from '../helpers/models';
import { expectRefusal, mkfifo, mknodZero, smallTfjsModel, weightRange, writeTfjsModel, type TfjsModelFiles } from './bad-inputs';

/**
 * tfjs model folders from strangers: weight paths that leave the folder, shards that are not
 * regular files or not the manifest's length, oversized or non-JSON model.json, non-finite weights.
 * Each is refused with one line naming the model file.
 */

let root = '';
let files: TfjsModelFiles;
const SECRET = 'root:x:0:0:root:/root:/bin/bash\n';

beforeAll(async () => {
  await useWasm();
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-sec-model-'));
  files = await smallTfjsModel();
  // A file next to the model folders that a traversal would reach, exactly the shard's length.
  await fs.writeFile(path.join(root, 'secret.bin'), Buffer.alloc(files.weights.length, SECRET));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

let n = 0;
/** A model folder whose manifest names `paths` (weights.bin written unless `weights` is null). */
async function modelWithPaths(paths: string[], weights: Buffer | null = files.weights): Promise<string> {
  const dir = path.join(root, `m${++n}`);
  const json = structuredClone(files.json);
  json.weightsManifest[0].paths = paths;
  return writeTfjsModel(dir, { ...files, json }, weights);
}

describe('weight paths stay inside the model folder', () => {
  const depth = '../'.repeat(12);
  const cases: [string, () => string][] = [
    ['a plain ../ path', () => '../secret.bin'],
    ['a %2F-encoded ../ path', () => '..%2Fsecret.bin'],
    ['a fully encoded path', () => '%2E%2E%2Fsecret.bin'],
    ['an absolute path', () => path.join(root, 'secret.bin')],
    ['an encoded absolute path', () => encodeURIComponent(path.join(root, 'secret.bin'))],
    ['a deep traversal to /etc/passwd', () => `${depth}etc/passwd`],
  ];
  for (const [name, shard] of cases) {
    it(`refuses ${name}, naming the model file and the path`, async () => {
      const model = await modelWithPaths([shard()], null);
      const err = await expectRefusal(path.dirname(model));
      expect(err.file).toBe(model);
      expect(err.message).toContain(`weight file "${shard()}" is refused`);
      expect(err.message).toMatch(/points outside|absolute path/);
    });
  }

  it('refuses a link inside the folder that leads out of it', async () => {
    const model = await modelWithPaths(['weights.bin'], null);
    await fs.symlink(path.join(root, 'secret.bin'), path.join(path.dirname(model), 'weights.bin'));
    const err = await expectRefusal(model);
    expect(err.message).toContain(`is a link to ${path.join(root, 'secret.bin')}, outside`);
  });

  it('still reads shards in a sub-folder, with an encoded name, and through a link that stays inside', async () => {
    const model = await modelWithPaths(['sub%2Fw%20eights.bin'], null);
    const dir = path.dirname(model);
    await fs.mkdir(path.join(dir, 'sub'));
    await fs.writeFile(path.join(dir, 'real.bin'), files.weights);
    await fs.symlink('../real.bin', path.join(dir, 'sub', 'w eights.bin'));
    const loaded = await loadClassifier(model);
    const kernel = weightRange(files, files.json.weightsManifest[0].weights[0].name);
    const got = loaded.model.getWeights()[0].dataSync();
    expect(Array.from(got)).toEqual(Array.from(new Float32Array(files.weights.buffer.slice(files.weights.byteOffset + kernel.offset, files.weights.byteOffset + kernel.offset + kernel.count * 4))));
    loaded.model.dispose();
  });
});

describe('shards are regular files', () => {
  it('refuses a FIFO as shard at once, without waiting for a writer', async () => {
    const model = await modelWithPaths(['weights.bin'], null);
    mkfifo(path.join(path.dirname(model), 'weights.bin'));
    const t0 = Date.now();
    const err = await expectRefusal(model);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(err.message).toBe(`${model}: weight file "weights.bin": ${path.join(path.dirname(model), 'weights.bin')}: is a FIFO (named pipe), not a regular file`);
  });

  it('refuses a character device (a /dev/zero made with mknod) as shard', async (ctx) => {
    const model = await modelWithPaths(['weights.bin'], null);
    const why = mknodZero(path.join(path.dirname(model), 'weights.bin'));
    if (why !== null) {
      console.log(`skipped: ${why}`);
      return ctx.skip();
    }
    const err = await expectRefusal(model);
    expect(err.message).toContain('is a character device, not a regular file');
  });

  it('refuses a folder as shard', async () => {
    const model = await modelWithPaths(['weights.bin'], null);
    await fs.mkdir(path.join(path.dirname(model), 'weights.bin'));
    expect((await expectRefusal(model)).message).toContain('is a folder, not a regular file');
  });

  it('refuses /dev/zero and a FIFO given as the model itself', async () => {
    const fifo = path.join(root, 'fifo-model.json');
    mkfifo(fifo);
    expect((await expectRefusal(fifo)).message).toBe(`${fifo}: is a FIFO (named pipe), not a regular file`);
    expect((await expectRefusal('/dev/zero')).message).toBe('/dev/zero: is a character device, not a regular file');
  });
});

describe('shards hold exactly the manifest\'s bytes', () => {
  it('refuses a shard one byte too long', async () => {
    const model = await modelWithPaths(['weights.bin'], Buffer.concat([files.weights, Buffer.from([0])]));
    expect((await expectRefusal(model)).message).toBe(
      `${model}: weight files weights.bin hold ${files.weights.length + 1} bytes, the manifest needs ${files.weights.length}: longer than its weights (another model's shards?)`,
    );
  });

  it('refuses a shard one byte too short', async () => {
    const model = await modelWithPaths(['weights.bin'], files.weights.subarray(0, files.weights.length - 1));
    expect((await expectRefusal(model)).message).toBe(`${model}: weight files weights.bin hold ${files.weights.length - 1} bytes, the manifest needs ${files.weights.length} (truncated?)`);
  });

  it('refuses a manifest whose weights would exceed the weight cap, before reading', async () => {
    const dir = path.join(root, 'huge-manifest');
    const json = structuredClone(files.json);
    json.weightsManifest[0].weights[0].shape = [65536, 65536, 1];
    const model = await writeTfjsModel(dir, { ...files, json });
    expect((await expectRefusal(model)).message).toMatch(/the weights need 17179\d+ bytes .*over the limit of 2147483648 bytes/);
  });
});

describe('model.json', () => {
  it('is refused over the size cap from its size alone (a sparse file, never read)', async () => {
    const dir = path.join(root, 'big-json');
    await fs.mkdir(dir);
    const model = path.join(dir, 'model.json');
    await fs.writeFile(model, '{"modelTopology":');
    await fs.truncate(model, MAX_MODEL_JSON_BYTES + 1);
    expect((await expectRefusal(model)).message).toBe(`${model}: is ${MAX_MODEL_JSON_BYTES + 1} bytes (64.0 MiB), over the limit for a JSON file of ${MAX_MODEL_JSON_BYTES} bytes (64.0 MiB)`);
  });

  it('that is not JSON is refused without quoting its content', async () => {
    const dir = path.join(root, 'passwd');
    await fs.mkdir(dir);
    const model = path.join(dir, 'model.json');
    await fs.writeFile(model, SECRET);
    expect((await expectRefusal(model)).message).toBe(`${model}: is not valid JSON`);
  });
});

describe('weights are finite numbers', () => {
  for (const [label, value] of [['NaN', NaN], ['Infinity', Infinity], ['-Infinity', -Infinity]] as const) {
    it(`refuses a ${label} weight, naming the layer, its class and the weight`, async () => {
      const head = files.json.weightsManifest[0].weights.find((w) => w.name.startsWith('head/') && w.name.endsWith('kernel'));
      expect(head).toBeDefined();
      const { offset, count } = weightRange(files, head?.name ?? '');
      const bad = Buffer.from(files.weights);
      bad.writeFloatLE(value, offset + 4 * 5);
      const model = await writeTfjsModel(path.join(root, `nan-${label}`), files, bad);
      expect((await expectRefusal(model)).message).toBe(
        `${model}: layer "head" (Dense): weight "${head?.name}" holds ${label} at value 5 of ${count}: the model's weights must be finite numbers`,
      );
    });
  }
});

describe('a converted folder (convmap.json sidecar)', () => {
  async function converted(name: string, sidecar: (file: string) => Promise<void>): Promise<string> {
    const model = await writeTfjsModel(path.join(root, name), files);
    await sidecar(path.join(path.dirname(model), 'convmap.json'));
    return path.dirname(model);
  }

  async function convertedRefusal(dir: string): Promise<ModelError> {
    const e = await loadConverted(dir).then(() => null, (err: unknown) => err);
    expect(e).toBeInstanceOf(ModelError);
    return e as ModelError;
  }

  it('refuses a FIFO sidecar without blocking', async () => {
    const dir = await converted('conv-fifo', async (f) => mkfifo(f));
    expect((await convertedRefusal(dir)).message).toBe(`${path.join(dir, 'convmap.json')}: is a FIFO (named pipe), not a regular file`);
  });

  it('refuses a sidecar that is not JSON without quoting it', async () => {
    const dir = await converted('conv-passwd', (f) => fs.writeFile(f, SECRET));
    expect((await convertedRefusal(dir)).message).toBe(`${path.join(dir, 'convmap.json')}: is not valid JSON`);
  });

  it('refuses weight paths leaving a converted folder too', async () => {
    const json = structuredClone(files.json);
    json.weightsManifest[0].paths = ['../secret.bin'];
    const model = await writeTfjsModel(path.join(root, 'conv-traversal'), { ...files, json }, null);
    await fs.writeFile(path.join(path.dirname(model), 'convmap.json'), JSON.stringify({ format: 'convmap-fcn', preprocess: 'unit' }));
    expect((await convertedRefusal(path.dirname(model))).message).toContain('weight file "../secret.bin" is refused: ../secret.bin: points outside');
  });
});
