import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/temp-dir';

/**
 * A child process dies with its parent even while its main thread is blocked (issue 19): the ONNX
 * Runtime process of a SIGKILLed CLI kept running until its tile ended. Real processes, real
 * SIGKILL; time bounded only by the tests' timeouts.
 */
const repo = path.resolve(import.meta.dirname, '../..');
const tmp = tempDir('convmap-parent-watch-');

/** The process's state letter from /proc (Z: a zombie, dead but not reaped), or null when it is gone. */
async function procState(pid: number): Promise<string | null> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  return stat === null ? null : stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

async function alive(pid: number): Promise<boolean> {
  const state = await procState(pid);
  return state !== null && state !== 'Z' && state !== 'X';
}

/** Pids of the live children of `pid`, from /proc. */
async function childrenOf(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const name of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await fs.readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[1]) === pid && fields[0] !== 'Z') out.push(Number(name));
  }
  return out;
}

async function until(what: string, test: () => Promise<boolean>, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
}

describe.runIf(process.platform === 'linux')('dieWithParent', () => {
  it('a child whose main thread is blocked dies when its parent is SIGKILLed', async () => {
    // The grandchild blocks its main thread for good, as onnxruntime-node's synchronous run does.
    const grandchild = path.join(tmp.path, 'blocked.ts');
    await fs.writeFile(grandchild, [
      `import { dieWithParent } from ${JSON.stringify(path.join(repo, 'main/io/parent-watch.ts'))};`,
      'dieWithParent();',
      'process.stdout.write(`blocked ${process.pid}\\n`);',
      'Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);',
    ].join('\n'));
    const parentScript = `const { spawn } = require('node:child_process'); spawn(process.execPath, ['--import', 'tsx', ${JSON.stringify(grandchild)}], { stdio: 'inherit' }); setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ['-e', parentScript], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const pid = await new Promise<number>((resolve, reject) => {
        let text = '';
        parent.stdout?.on('data', (d: Buffer) => {
          text += d.toString();
          const m = /blocked (\d+)/.exec(text);
          if (m) resolve(Number(m[1]));
        });
        parent.once('exit', () => reject(new Error(`the parent ended first: ${text}`)));
      });
      expect(await alive(pid)).toBe(true);
      parent.kill('SIGKILL');
      await exited(parent);
      await until(`the blocked child ${pid} is gone`, async () => !(await alive(pid)), 20_000);
    } finally {
      parent.kill('SIGKILL');
    }
  }, 60_000);

  // The digits model's tiles are short, so this one shows the wiring, not the blocked thread (the test above does).
  it('the ONNX Runtime process of a SIGKILLed heatmap run ends', async () => {
    const photo = path.join(tmp.path, 'big.png');
    // Noise, so that every tile has work: the run is still going when the CLI is killed.
    const w = 1600;
    const h = 1200;
    const noise = Buffer.alloc(w * h * 3);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
    await sharp(noise, { raw: { width: w, height: h, channels: 3 } }).png({ compressionLevel: 1 }).toFile(photo);
    const cli = spawn(process.execPath, [path.join(repo, 'bin/convmap.mjs'), 'heatmap', '--model', 'builtin', photo, '--out', path.join(tmp.path, 'out'), '--scales', '1', '--no-cache', '--backend', 'onnx', '--quiet'], {
      cwd: repo, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, CONVMAP_BACKEND: 'onnx' },
    });
    try {
      let ort: number[] = [];
      await until('the ONNX Runtime process runs', async () => {
        ort = [];
        for (const pid of await childrenOf(cli.pid as number)) {
          const cmd = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
          if (cmd.includes('onnx-process')) ort.push(pid);
        }
        return ort.length > 0;
      }, 60_000);
      // Into its run: its CPU time grows (utime, field 14 of /proc/PID/stat).
      const cpu = async (): Promise<number> => {
        const stat = await fs.readFile(`/proc/${ort[0]}/stat`, 'utf8').catch(() => '');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[11] ?? 0);
      };
      const c0 = await cpu();
      await until('the ONNX Runtime process computes', async () => (await cpu()) > c0 + 20, 60_000);
      cli.kill('SIGKILL');
      await exited(cli);
      await until(`the ONNX Runtime process ${ort[0]} is gone`, async () => !(await alive(ort[0])), 20_000);
    } finally {
      cli.kill('SIGKILL');
    }
  }, 120_000);
});
