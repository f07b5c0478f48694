import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelError } from '../../main/model/errors';
import { loadClassifier } from '../../main/model/load';
import { referenceUnavailable } from '../helpers/keras';
import { useWasm } from '../helpers/models';
import { expectRefusal, mkfifo, patchZip, smallTfjsModel, type TfjsModelFiles } from './bad-inputs';

/**
 * Keras files from strangers: .keras zip bombs (honest and lying directories), .h5 datasets whose
 * declared shape is not the layer's (a few KB declaring gigabytes), external links, external
 * storage and virtual datasets that would read other files, and NaN weights. The .h5 files are
 * written by h5py (skipped with the reason printed when it is missing).
 */

let root = '';
let files: TfjsModelFiles;
const whyNoH5py = referenceUnavailable();
if (whyNoH5py) console.log(`h5py-built .h5 cases skipped: ${whyNoH5py}`);

beforeAll(async () => {
  await useWasm();
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-sec-keras-'));
  files = await smallTfjsModel();
  await fs.writeFile(path.join(root, 'secret.bin'), Buffer.alloc(4096, 'SECRET'));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

/** Here every refusal names the file that was opened. */
async function refusal(target: string): Promise<ModelError> {
  const err = await expectRefusal(target);
  expect(err.file).toBe(target);
  return err;
}

// ---- .keras zip bombs ----------------------------------------------------------------------------------

/** A .keras whose config.json is a real model and whose model.weights.h5 is `weights`. */
function kerasWith(weights: Uint8Array, extra: Record<string, Uint8Array> = {}): Uint8Array {
  return zipSync({
    'metadata.json': Buffer.from(JSON.stringify({ keras_version: '3.5.0' })),
    'config.json': Buffer.from(JSON.stringify(files.json.modelTopology)),
    'model.weights.h5': weights,
    ...extra,
  }, { level: 6 });
}

describe('.keras zip bombs', () => {
  it('refuses an entry that inflates 16 MiB of zeros from a few KB (ratio), from the zip directory', async () => {
    const file = path.join(root, 'ratio-bomb.keras');
    await fs.writeFile(file, kerasWith(new Uint8Array(16 * 2 ** 20)));
    const err = await refusal(file);
    expect(err.message).toMatch(/^.*: zip entry "model\.weights\.h5" unpacks \d+ bytes to 16777216 bytes \(16\.0 MiB\) \(ratio \d+, over 200\): refused as a zip bomb$/);
  });

  it('refuses entries whose declared sizes add up past the cap, before inflating', async () => {
    const small = kerasWith(new Uint8Array(1000), { 'a.bin': new Uint8Array(1000), 'b.bin': new Uint8Array(1000) });
    let zip = small;
    for (const name of ['model.weights.h5', 'a.bin', 'b.bin']) zip = patchZip(zip, name, { csize: 20 * 2 ** 20, usize: 1024 * 2 ** 20 }, false);
    const file = path.join(root, 'total-bomb.keras');
    await fs.writeFile(file, zip);
    expect((await refusal(file)).message).toMatch(/: zip entries unpack to 32\d+ bytes \(3\d{3}\.\d MiB\), over the limit of 2214592512 bytes/);
  });

  it('stops inflating an entry at its declared size when the directory lies', async () => {
    // 16 MiB of zeros declared as 1 MiB: under the ratio floor, so only the inflation bound stops it.
    const zip = patchZip(kerasWith(new Uint8Array(16 * 2 ** 20)), 'model.weights.h5', { usize: 2 ** 20 });
    const file = path.join(root, 'lying-bomb.keras');
    await fs.writeFile(file, zip);
    expect((await refusal(file)).message).toBe(`${file}: zip entry "model.weights.h5" unpacks to more than the 1048576 bytes (1.0 MiB) its zip directory declares: refused`);
  });

  it('refuses a FIFO named .keras without blocking', async () => {
    const fifo = path.join(root, 'pipe.keras');
    mkfifo(fifo);
    expect((await refusal(fifo)).message).toBe(`${fifo}: is a FIFO (named pipe), not a regular file`);
  });
});

// ---- .h5 built with h5py -------------------------------------------------------------------------------

/**
 * Writes a Keras 2 legacy full-model .h5 of the small model with h5py; `variant` makes it hostile:
 * bomb (conv kernel declared [100000, 10000], chunked and never written, so the file stays small),
 * elink (the conv group is an external link), efl (the kernel's bytes are another file), vds (the
 * kernel is a virtual dataset over another file), nan (a NaN in the dense kernel).
 */
function writeH5(file: string, variant: 'ok' | 'bomb' | 'elink' | 'efl' | 'vds' | 'nan'): void {
  const weights = files.json.weightsManifest[0].weights;
  const floats = new Float32Array(files.weights.buffer.slice(files.weights.byteOffset, files.weights.byteOffset + files.weights.byteLength));
  let at = 0;
  const arrays = weights.map((w) => {
    const n = w.shape.reduce((a, b) => a * b, 1);
    const values = Array.from(floats.subarray(at, at + n));
    at += n;
    return { name: w.name, shape: w.shape, values };
  });
  const script = String.raw`
import h5py, json, sys, numpy as np
spec = json.load(sys.stdin)
variant, secret, other = spec['variant'], spec['secret'], spec['other']
with h5py.File(other, 'w') as o:
    o['x'] = np.zeros((3, 3, 1, 2), 'f4')
with h5py.File(spec['file'], 'w') as f:
    f.attrs['model_config'] = json.dumps(spec['config'])
    f.attrs['keras_version'] = '2.15.0'
    f.attrs['backend'] = 'tensorflow'
    mw = f.create_group('model_weights')
    layers = ['conv', 'flat', 'head']
    mw.attrs['layer_names'] = [l.encode() for l in layers]
    by_layer = {}
    for w in spec['weights']:
        by_layer.setdefault(w['name'].split('/')[0], []).append(w)
    for l in layers:
        if variant == 'elink' and l == 'conv':
            mw['conv'] = h5py.ExternalLink(other, '/')
            continue
        g = mw.create_group(l)
        ws = by_layer.get(l, [])
        g.attrs['weight_names'] = np.array([(w['name'] + ':0').encode() for w in ws]) if ws else np.zeros((0,), 'f8')
        for w in ws:
            name = w['name'] + ':0'
            data = np.array(w['values'], 'f4').reshape(w['shape'])
            kernel = name.endswith('kernel:0')
            if variant == 'bomb' and l == 'conv' and kernel:
                g.create_dataset(name, shape=(100000, 10000), dtype='f4', chunks=(1000, 1000), compression='gzip')
            elif variant == 'efl' and l == 'conv' and kernel:
                g.create_dataset(name, shape=data.shape, dtype='f4', external=[(secret, 0, data.size * 4)])
            elif variant == 'vds' and l == 'conv' and kernel:
                layout = h5py.VirtualLayout(shape=data.shape, dtype='f4')
                layout[...] = h5py.VirtualSource(other, 'x', shape=data.shape)
                g.create_virtual_dataset(name, layout)
            else:
                if variant == 'nan' and l == 'head' and kernel:
                    data.flat[4] = np.nan
                g.create_dataset(name, data=data)
`;
  const r = spawnSync('/usr/bin/python3', ['-c', script], {
    input: JSON.stringify({ variant, file, secret: path.join(root, 'secret.bin'), other: path.join(root, `other-${variant}.h5`), config: files.json.modelTopology, weights: arrays }),
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`h5py failed: ${r.stderr}`);
}

describe.skipIf(whyNoH5py !== null)('.h5 files that reach outside themselves or declare too much', () => {
  it('loads the well-formed control file with the weights it holds', async () => {
    const file = path.join(root, 'ok.h5');
    writeH5(file, 'ok');
    const loaded = await loadClassifier(file);
    const got = loaded.model.getWeights().map((t) => Array.from(t.dataSync()));
    const want = new Float32Array(files.weights.buffer.slice(files.weights.byteOffset, files.weights.byteOffset + files.weights.byteLength));
    expect(got.flat()).toEqual(Array.from(want));
    loaded.model.dispose();
  });

  it('refuses a dataset declaring [100000, 10000] for a [3, 3, 1, 2] kernel from its metadata, before reading it', async () => {
    const file = path.join(root, 'bomb.h5');
    writeH5(file, 'bomb');
    expect((await fs.stat(file)).size).toBeLessThan(200_000);
    expect((await refusal(file)).message).toBe(
      `${file}: layer "conv" (Conv2D): weight "model_weights/conv/conv/kernel:0" has shape [100000, 10000] in the file, the layer needs [3, 3, 1, 2]`,
    );
  });

  it('refuses an external link, naming the link and its target', async () => {
    const file = path.join(root, 'elink.h5');
    writeH5(file, 'elink');
    expect((await refusal(file)).message).toBe(`${file}: "/model_weights/conv" is an external link to ${path.join(root, 'other-elink.h5')}:/: objects in other files are refused`);
  });

  it('refuses a dataset stored in another file (external storage), never reading that file', async () => {
    const file = path.join(root, 'efl.h5');
    writeH5(file, 'efl');
    const err = await refusal(file);
    expect(err.message).toBe(
      `${file}: layer "conv" (Conv2D): weight "model_weights/conv/conv/kernel:0" stores its data in another file (${path.join(root, 'secret.bin')}): external storage is refused`,
    );
  });

  it('refuses a virtual dataset over another file', async () => {
    const file = path.join(root, 'vds.h5');
    writeH5(file, 'vds');
    expect((await refusal(file)).message).toBe(
      `${file}: layer "conv" (Conv2D): weight "model_weights/conv/conv/kernel:0" is a virtual dataset reading from ${path.join(root, 'other-vds.h5')}: data from other files is refused`,
    );
  });

  it('refuses a NaN weight, naming the layer and the weight', async () => {
    const file = path.join(root, 'nan.h5');
    writeH5(file, 'nan');
    expect((await refusal(file)).message).toBe(
      `${file}: layer "head" (Dense): weight "model_weights/head/head/kernel:0" holds NaN at value 4 of 216: the model's weights must be finite numbers`,
    );
  });
});
