import { execFile, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createDeflateRaw, crc32 } from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import type { Group as H5Group } from 'h5wasm';
import { expect } from 'vitest';
import { ModelError } from '../../main/model/errors';
import { loadClassifier } from '../../main/model/load';
import { modelToArtifacts } from '../../main/model/artifacts';
import { kerasZip, writeH5, type Json } from '../helpers/keras';

/**
 * Builders of the bad-input corpus (made by the tests, nothing committed) and a CLI runner that
 * measures the child's peak memory with GNU time.
 */

export const repo = path.resolve(import.meta.dirname, '../..');

/**
 * Load `target` as a classifier and expect it refused with a ModelError of one line (a model that
 * loads after all is disposed and the test fails). Returns the error for the caller's checks.
 */
export async function expectRefusal(target: string): Promise<ModelError> {
  const e = await loadClassifier(target).then(
    (loaded) => {
      loaded.model.dispose();
      return null;
    },
    (err: unknown) => err,
  );
  expect(e, `${target} should have been refused`).toBeInstanceOf(ModelError);
  const err = e as ModelError;
  expect(err.message.includes('\n')).toBe(false);
  return err;
}

export interface TfjsModelFiles {
  /** model.json as an object, to be altered and written. */
  json: { format: string; modelTopology: unknown; weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
  /** The weights, in manifest order (float32 little-endian). */
  weights: Buffer;
}

/**
 * A small valid-padding classifier (conv 3×3 ×2 on 8×8 grey → flatten → dense 3 softmax) as the
 * files tfjs writes. `layerName` names the conv layer (to put control characters in it).
 */
export async function smallTfjsModel(opts: { layerName?: string; seed?: number } = {}): Promise<TfjsModelFiles> {
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ name: opts.layerName ?? 'conv', filters: 2, kernelSize: 3, inputShape: [8, 8, 1], activation: 'relu', kernelInitializer: tf.initializers.randomNormal({ seed: opts.seed ?? 1 }) }),
      tf.layers.flatten({ name: 'flat' }),
      tf.layers.dense({ name: 'head', units: 3, activation: 'softmax', kernelInitializer: tf.initializers.randomNormal({ seed: (opts.seed ?? 1) + 1 }) }),
    ],
  });
  try {
    const artifacts = await modelToArtifacts(model);
    const data = artifacts.weightData;
    const parts = data === undefined ? [] : Array.isArray(data) ? data : [data];
    return {
      json: { format: 'layers-model', modelTopology: artifacts.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }] },
      weights: Buffer.concat(parts.map((b) => Buffer.from(b))),
    };
  } finally {
    model.dispose();
  }
}

/** Byte offset and count of the named weight in the manifest order (float32 weights only). */
export function weightRange(files: TfjsModelFiles, name: string): { offset: number; count: number } {
  let offset = 0;
  for (const w of files.json.weightsManifest[0].weights) {
    const count = w.shape.reduce((a, b) => a * b, 1);
    if (w.name === name) return { offset, count };
    offset += count * 4;
  }
  throw new Error(`no weight ${name}`);
}

/** Writes model.json (+ weights.bin unless `weights` is null) into `dir`. */
export async function writeTfjsModel(dir: string, files: TfjsModelFiles, weights: Buffer | null = files.weights): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'model.json'), JSON.stringify(files.json));
  if (weights !== null) await fs.writeFile(path.join(dir, 'weights.bin'), weights);
  return path.join(dir, 'model.json');
}

/** Makes a FIFO with mkfifo(1). */
export function mkfifo(file: string): void {
  const r = spawnSync('mkfifo', [file]);
  if (r.status !== 0) throw new Error(`mkfifo ${file} failed: ${r.stderr.toString()}`);
}

/** Makes a character device like /dev/zero at `file` (needs root); returns why it could not, or null. */
export function mknodZero(file: string): string | null {
  const r = spawnSync('mknod', [file, 'c', '1', '5']);
  return r.status === 0 ? null : `mknod failed (${r.stderr.toString().trim() || `status ${r.status}`}): not root?`;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Peak resident memory of the CLI process in KiB (GNU time's "Maximum resident set size"), or null without /usr/bin/time. */
  maxRssKiB: number | null;
  /** True when the run was killed at the timeout. */
  timedOut: boolean;
}

const GNU_TIME = '/usr/bin/time';

/**
 * Runs `convmap ARGS` as a child process under coreutils `timeout` (so a hang ends and nothing is
 * left running), itself under GNU time when present, whose report (peak RSS of the CLI process)
 * goes to `timeFile` so that the CLI's own stderr is what the test reads.
 */
export async function runCli(args: string[], opts: { timeoutS?: number; env?: Record<string, string>; cwd?: string; timeFile: string; fileSizeKiB?: number }): Promise<CliRun> {
  const hasTime = await fs.access(GNU_TIME).then(() => true, () => false);
  const limit = opts.timeoutS ?? 60;
  // A full disk, reproduced without mounting one: RLIMIT_FSIZE cuts each file's writes short at the
  // limit, then fails them with EFBIG (SIGXFSZ ignored, as the shell's trap passes on through exec).
  const sized = opts.fileSizeKiB === undefined ? [] : ['bash', '-c', `trap '' XFSZ; ulimit -f ${opts.fileSizeKiB}; exec "$@"`, 'bash'];
  const guarded = [...sized, 'timeout', '--kill-after=2', String(limit), process.execPath, path.join(repo, 'bin/convmap.mjs'), ...args];
  const [cmd, ...argv] = hasTime ? [GNU_TIME, '-v', '-o', opts.timeFile, ...guarded] : guarded;
  return new Promise((resolve) => {
    const child = execFile(cmd, argv, {
      cwd: opts.cwd ?? repo,
      env: { ...process.env, CONVMAP_BACKEND: 'cpu', ...opts.env },
      maxBuffer: 16 << 20,
      encoding: 'buffer',
    }, (_err, stdout, stderr) => {
      void (async () => {
        let maxRssKiB: number | null = null;
        if (hasTime) {
          const report = await fs.readFile(opts.timeFile, 'utf8').catch(() => '');
          const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(report);
          maxRssKiB = m ? Number(m[1]) : null;
        }
        const code = child.exitCode;
        resolve({ code, stdout: stdout.toString('utf8'), stderr: stderr.toString('utf8'), maxRssKiB, timedOut: code === 124 || code === 137 });
      })();
    });
  });
}

/** Control characters a terminal acts on: C0 (but not the newline ending a line), DEL and C1. */
export const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

// ---- Keras size bombs ------------------------------------------------------------------------------------

/**
 * The small model's Keras files whose head (Dense) declares `units` outputs: its kernel [72, units]
 * and bias [units] are chunked datasets of which only the first chunk is written, then extended to
 * that size (HDF5 reads never-written chunks as zeros), so a file of a few KB declares gigabytes.
 * `legacy`: a Keras 2 full-model .h5 (model_config + model_weights/); `keras3`: a .keras zip of
 * config.json and a model.weights.h5 in Keras 3's layout (layers/<class>/vars/<i>).
 */
export async function writeSparseKerasModel(file: string, files: TfjsModelFiles, layout: 'legacy' | 'keras3', units: number): Promise<void> {
  const topology = structuredClone(files.json.modelTopology) as { config: { layers: { class_name: string; config: Record<string, unknown> }[] } };
  for (const l of topology.config.layers) if (l.class_name === 'Dense') l.config.units = units;
  const sparse = (g: H5Group, name: string, shape: number[]): void => {
    const first = [...shape.slice(0, -1), 16];
    const ds = g.create_dataset({
      name, data: new Float32Array(first.reduce((a, b) => a * b, 1)).fill(0.5), shape: first, dtype: '<f',
      maxshape: [...shape.slice(0, -1), null], chunks: first,
    });
    ds.resize(shape);
  };
  const dense = (g: H5Group, data: Float32Array, name: string, shape: number[]): void => {
    g.create_dataset({ name, data, shape, dtype: '<f' });
  };
  const conv = files.json.weightsManifest[0].weights.filter((w) => w.name.startsWith('conv/'));
  const convValues = conv.map((w) => new Float32Array(w.shape.reduce((a, b) => a * b, 1)).fill(0.25));
  const flat = 72;
  if (layout === 'legacy') {
    await writeH5(file, (root) => {
      root.create_attribute('model_config', JSON.stringify(topology));
      root.create_attribute('keras_version', '2.15.0');
      root.create_attribute('backend', 'tensorflow');
      const mw = root.create_group('model_weights');
      mw.create_attribute('layer_names', ['conv', 'flat', 'head'], [3], 'S4');
      const c = mw.create_group('conv');
      c.create_attribute('weight_names', ['conv/kernel:0', 'conv/bias:0'], [2], 'S13');
      const cg = c.create_group('conv');
      conv.forEach((w, i) => dense(cg, convValues[i], `${w.name.split('/')[1]}:0`, w.shape));
      mw.create_group('flat').create_attribute('weight_names', new Float64Array(0), [0], '<d');
      const h = mw.create_group('head');
      h.create_attribute('weight_names', ['head/kernel:0', 'head/bias:0'], [2], 'S13');
      const hg = h.create_group('head');
      sparse(hg, 'kernel:0', [flat, units]);
      sparse(hg, 'bias:0', [units]);
    });
    return;
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-sparse-'));
  try {
    const inner = path.join(dir, 'model.weights.h5');
    await writeH5(inner, (root) => {
      const cg = root.create_group('layers').create_group('conv2d').create_group('vars');
      conv.forEach((w, i) => dense(cg, convValues[i], String(i), w.shape));
      const hg = (root.get('layers') as H5Group).create_group('dense').create_group('vars');
      sparse(hg, '0', [flat, units]);
      sparse(hg, '1', [units]);
    });
    const zip = kerasZip({
      'metadata.json': { keras_version: '3.5.0' },
      'config.json': topology as unknown as Json,
      'model.weights.h5': new Uint8Array(await fs.readFile(inner)),
    });
    await fs.writeFile(file, zip);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

// ---- Zip bombs --------------------------------------------------------------------------------------------

/** Rewrites the sizes of entry `name` in a zip's central directory (and, for usize, its local header). */
export function patchZip(zip: Uint8Array, name: string, sizes: { csize?: number; usize?: number }, local = true): Uint8Array {
  const b = Buffer.from(zip);
  const eocd = b.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const count = b.readUInt16LE(eocd + 10);
  let at = b.readUInt32LE(eocd + 16);
  for (let i = 0; i < count; i++) {
    const nameLen = b.readUInt16LE(at + 28);
    const entry = b.toString('utf8', at + 46, at + 46 + nameLen);
    const next = at + 46 + nameLen + b.readUInt16LE(at + 30) + b.readUInt16LE(at + 32);
    if (entry === name) {
      const lh = b.readUInt32LE(at + 42);
      if (sizes.csize !== undefined) b.writeUInt32LE(sizes.csize, at + 20);
      if (sizes.usize !== undefined) {
        b.writeUInt32LE(sizes.usize, at + 24);
        if (local) b.writeUInt32LE(sizes.usize, lh + 22);
      }
    }
    at = next;
  }
  return b;
}

const deflatedZeros = new Map<number, Promise<Buffer>>();

/** `zeros` bytes of zeros as raw deflate, streamed through zlib so the test never holds them (made once per size). */
export function deflateZeros(zeros: number): Promise<Buffer> {
  const made = deflatedZeros.get(zeros) ?? new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    // Level 2: as compact as level 1 on zeros (ratio ~229) and the fastest to make.
    const z = createDeflateRaw({ level: 2 });
    z.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks))).on('error', reject);
    const block = Buffer.alloc(16 * 2 ** 20);
    let left = zeros;
    const pump = (): void => {
      while (left > 0) {
        const n = Math.min(left, block.length);
        left -= n;
        if (!z.write(block.subarray(0, n))) return void z.once('drain', pump);
      }
      z.end();
    };
    pump();
  });
  deflatedZeros.set(zeros, made);
  return made;
}

/**
 * A zip with one deflated entry whose data is `zeros` bytes of zeros, streamed through zlib so the
 * test never holds them, after `extra` stored entries. `declared` is the unpacked size written in
 * its headers; `directoryPacked`, when given, is the packed size its central directory claims
 * (the local header keeps the true one), a directory that lies.
 */
export async function zeroBombZip(entry: string, zeros: number, declared: number, extra: Record<string, Buffer>, directoryPacked?: number): Promise<Buffer> {
  const deflated = await deflateZeros(zeros);
  const members = [
    ...Object.entries(extra).map(([name, data]) => ({ name, method: 0, data, usize: data.length, crc: crc32(data) })),
    { name: entry, method: 8, data: deflated, usize: declared, crc: 0 },
  ];
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const m of members) {
    const name = Buffer.from(m.name);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt16LE(m.method, 8);
    lh.writeUInt32LE(m.crc, 14);
    lh.writeUInt32LE(m.data.length, 18);
    lh.writeUInt32LE(m.usize, 22);
    lh.writeUInt16LE(name.length, 26);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(m.method, 10);
    cd.writeUInt32LE(m.crc, 16);
    cd.writeUInt32LE(m.name === entry && directoryPacked !== undefined ? directoryPacked : m.data.length, 20);
    cd.writeUInt32LE(m.usize, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt32LE(offset, 42);
    locals.push(lh, name, m.data);
    central.push(cd, name);
    offset += 30 + name.length + m.data.length;
  }
  const cdBytes = Buffer.concat(central);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(members.length, 8);
  eocd.writeUInt16LE(members.length, 10);
  eocd.writeUInt32LE(cdBytes.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cdBytes, eocd]);
}

/**
 * A vector drawing that takes librsvg minutes to render (issue 19, item 4): 9000×9000 with large
 * blurred shapes, about 2 KB. `prolog` starts it with an XML declaration and a comment, as editors write.
 */
export function slowSvg(opts: { prolog?: boolean; bom?: boolean } = {}): Buffer {
  const shapes = Array.from({ length: 20 }, (_, i) => `<circle cx="${(i * 997) % 9000}" cy="${(i * 1493) % 9000}" r="2500" fill="#${((i * 123457) % 0xffffff).toString(16).padStart(6, '0')}" filter="url(#b)"/>`).join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="9000" height="9000"><defs><filter id="b"><feGaussianBlur stdDeviation="400"/></filter></defs><rect width="9000" height="9000" fill="#fff"/>${shapes}</svg>`;
  const text = `${opts.bom ? '\ufeff' : ''}${opts.prolog ? '<?xml version="1.0" encoding="UTF-8"?>\n<!-- drawn by hand -->\n' : ''}${svg}`;
  return Buffer.from(text, 'utf8');
}
