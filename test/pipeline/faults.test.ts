/**
 * Faults around a batch: SIGTERM mid-batch ends it like Ctrl-C (finished outputs complete, no
 * temporary files, CSV written), the rerun resumes (no "-2" copies) and removes a killed run's
 * leftover temporary files; an output folder that mkdir cannot make fails at once.
 */
import { execFile, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempFiles, writeScene } from '../batch/fixtures';

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, '../..');
const env = { ...process.env, CONVMAP_BACKEND: 'wasm' };
const PHOTOS = 10;

let tmp: string;
let folder: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-faults-'));
  folder = path.join(tmp, 'photos');
  await fs.mkdir(folder);
  for (let i = 0; i < PHOTOS; i++) await writeScene(path.join(folder, `p${String(i).padStart(2, '0')}.png`), 40 + i, 320, 240);
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

/** A pid no process has now (a child that has exited). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid as number;
}

describe('SIGTERM mid-batch, then a rerun', () => {
  const out = () => path.join(tmp, 'out');
  const args = () => [path.join(repo, 'bin/convmap.mjs'), 'heatmap', '--model', 'builtin', folder, '--out', out(), '--scales', '1,0.75', '--jobs', '1', '--workers', '1', '--csv', '--no-cache'];

  it('keeps the finished photos complete, writes the CSV, leaves no temporary file', async () => {
    const child = spawn(process.execPath, args(), { cwd: repo, env });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!sent && stdout.includes(' → ')) {
        sent = true;
        child.kill('SIGTERM');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    expect(sent).toBe(true);
    expect(code).toBe(1);
    expect(stderr).toMatch(/SIGTERM, cancelling/);
    const done = Number(/^(\d+) of 10 photos done/m.exec(stdout)?.[1]);
    expect(done).toBeGreaterThanOrEqual(1);
    expect(done).toBeLessThan(PHOTOS);
    const names = await fs.readdir(out());
    const pngs = names.filter((f) => f.endsWith('.heatmap.png'));
    expect(pngs).toHaveLength(done);
    for (const f of pngs) expect((await sharp(path.join(out(), f)).metadata()).width).toBe(320);
    expect(await tempFiles(out())).toEqual([]);
    const csv = (await fs.readFile(path.join(out(), 'summary.csv'), 'utf8')).trim().split('\n');
    expect(csv).toHaveLength(PHOTOS + 1);
    expect(csv.filter((l) => l.includes(',done,'))).toHaveLength(done);
    expect(csv.filter((l) => l.includes(',skipped,cancelled'))).toHaveLength(PHOTOS - done);
  }, 120_000);

  it('the rerun skips the completed photos, writes no "-2" copy, completes the CSV and removes a killed run\'s temporary files', async () => {
    const before = (await fs.readdir(out())).filter((f) => f.endsWith('.heatmap.png'));
    const kept = new Map(await Promise.all(before.map(async (f) => [f, await fs.readFile(path.join(out(), f))] as const)));
    // What a run killed with SIGKILL leaves: a temporary file of a process that is gone, and one of a live process (this one).
    const stale = `.p00.heatmap.png.${await deadPid()}.7.tmp`;
    const live = `.p01.heatmap.png.${process.pid}.9.tmp`;
    await fs.writeFile(path.join(out(), stale), 'half a png');
    await fs.writeFile(path.join(out(), live), 'being written');
    const { stdout } = await run(process.execPath, args(), { cwd: repo, env });
    expect(stdout).toMatch(new RegExp(`^10 of 10 photos done .*, ${before.length} done by an earlier run`, 'm'));
    const names = await fs.readdir(out());
    expect(names.filter((f) => /-\d+\.(heatmap\.png|scores\.json|csv)$/.test(f))).toEqual([]);
    expect(names.filter((f) => f.endsWith('.heatmap.png'))).toHaveLength(PHOTOS);
    for (const [f, bytes] of kept) expect((await fs.readFile(path.join(out(), f))).equals(bytes)).toBe(true);
    expect(names).not.toContain(stale);
    expect(names).toContain(live);
    const csv = (await fs.readFile(path.join(out(), 'summary.csv'), 'utf8')).trim().split('\n');
    expect(csv.filter((l) => l.includes(',done,'))).toHaveLength(PHOTOS);
    await fs.rm(path.join(out(), live));
  }, 120_000);
});

describe('an output folder that cannot be made', () => {
  it('--out /proc/self/x fails at once in one line, before the model loads', async () => {
    const r = await run(process.execPath, [path.join(repo, 'bin/convmap.mjs'), 'heatmap', '--model', 'builtin', folder, '--out', '/proc/self/x/y', '--no-cache'], { cwd: repo, env, timeout: 60_000 })
      .then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^convmap: cannot write \/proc\/self\/x\/y: the folder cannot be created there \(ENOENT/)]);
  }, 70_000);
});
