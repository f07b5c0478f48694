import { execFile, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';
import { ModelError } from '../../main/model/errors';
import { loadClassifier } from '../../main/model/load';
import { modelToArtifacts } from '../../main/model/artifacts';

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
