import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DecodeProcesses } from '../../main/io/decode-host';
import { decodePhoto } from '../../main/io/decode';
import { PhotoDecoder } from '../../main/services/pipeline';
import { startConvmap } from '../helpers/cli';
import { tempDir } from '../helpers/temp-dir';

/**
 * Every decode can be cancelled (issue 19 item 4): photos decode in child processes that a cancel
 * kills, so Ctrl-C, SIGTERM and the window's Cancel never wait for libvips. A decode stuck in native
 * code is made real enough by the decoding process's test hook: the photo named by
 * CONVMAP_TEST_DECODE_STALL_NAME blocks that process's thread for ten minutes, which only SIGKILL ends.
 */
const tmp = tempDir('convmap-cancel-decode-');
const STALL = 'CONVMAP_TEST_DECODE_STALL_NAME';

function photo(seed: number, width = 96, height = 72): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = ((i + seed * 7919) * 2654435761) >>> 24;
  return sharp(raw, { raw: { width, height, channels: 3 } }).png().toBuffer();
}

/** Pids of this process's children running the decoding process's entry (Linux /proc). */
async function decodeChildren(): Promise<number[]> {
  const pids: number[] = [];
  for (const e of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const [stat, cmd] = await Promise.all([fs.readFile(`/proc/${e}/stat`, 'utf8'), fs.readFile(`/proc/${e}/cmdline`, 'utf8')]).catch(() => ['', '']);
    // Field 4 (after the parenthesised command) is the parent's pid.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === process.pid && cmd.includes('decode-process')) pids.push(Number(e));
  }
  return pids;
}

/** Pids of the processes whose environment holds `marker` (Linux /proc; unreadable ones skipped). */
async function processesWith(marker: string): Promise<number[]> {
  const pids: number[] = [];
  for (const e of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    const env = await fs.readFile(`/proc/${e}/environ`, 'utf8').catch(() => '');
    if (env.includes(marker)) pids.push(Number(e));
  }
  return pids;
}

/** Resolves once `child`'s stderr has said that the decoding process stalled on `name` (its test hook). */
function stalled(child: ChildProcess, name: string): Promise<void> {
  return new Promise((resolve) => {
    let text = '';
    child.stderr?.on('data', (d: Buffer | string) => {
      text += String(d);
      if (text.includes(`stalled on ${name} (test hook)`)) resolve();
    });
  });
}

/** Rows of a CSV file (no quoted commas in these tests' paths and statuses), header dropped. */
async function csvRows(file: string): Promise<string[][]> {
  const lines = (await fs.readFile(file, 'utf8')).trim().split(/\r?\n/).slice(1);
  return lines.map((l) => l.split(','));
}

describe.runIf(process.platform === 'linux')('a decode stuck in the decoding process', () => {
  let saved: string | undefined;
  beforeAll(() => {
    saved = process.env[STALL];
    process.env[STALL] = 'stuck.png';
  });
  afterAll(() => {
    if (saved === undefined) delete process.env[STALL];
    else process.env[STALL] = saved;
  });

  it('is cancelled by its AbortSignal at once, its process killed: the next decode of a one-process pool runs, with the pixels in-process decoding gives', async () => {
    const pool = new DecodeProcesses(1);
    try {
      const bytes = await photo(1);
      const abort = new AbortController();
      const stuck = pool.decode(bytes, { name: 'stuck.png', maxPixels: 1e8, signal: abort.signal });
      // The request has reached the process (it blocks there) before the cancel.
      await new Promise((r) => setTimeout(r, 1500));
      const running = await decodeChildren();
      expect(running).toHaveLength(1);
      abort.abort(new Error('cancelled by the test'));
      await expect(stuck).rejects.toMatchObject({ name: 'AbortError' });
      for (let i = 0; i < 100 && (await decodeChildren()).includes(running[0]); i++) await new Promise((r) => setTimeout(r, 100));
      expect(await decodeChildren()).not.toContain(running[0]);
      // With one process, a stalled process still alive would hold this decode for ten minutes.
      const next = await pool.decode(bytes, { name: 'fine.png', maxPixels: 1e8 });
      const want = await decodePhoto(bytes, { name: 'fine.png' });
      expect([next.width, next.height]).toEqual([want.width, want.height]);
      expect(Buffer.from(next.data).equals(Buffer.from(want.data))).toBe(true);
    } finally {
      pool.close();
    }
  }, 60_000);

  it('a decode shared by two callers goes on while one still waits, and a decode refused in the process is an ImageError naming the photo', async () => {
    const pool = new DecodeProcesses(1);
    try {
      const decoder = new PhotoDecoder({ keep: 1, processes: pool });
      const shared = { bytes: await photo(2), hash: 'two', name: 'two.png' };
      const abort = new AbortController();
      const cancelled = decoder.decode(shared, abort.signal);
      const kept = decoder.decode(shared);
      abort.abort();
      await expect(cancelled).rejects.toMatchObject({ name: 'AbortError' });
      const img = await kept;
      expect(Buffer.from(img.data).equals(Buffer.from((await decodePhoto(shared.bytes)).data))).toBe(true);
      await expect(decoder.decode({ bytes: Buffer.from('not a photo at all'), hash: 'bad', name: 'bad.png' }))
        .rejects.toThrow(/^bad\.png: not a supported image \(/);
    } finally {
      pool.close();
    }
  }, 60_000);

  it('SIGTERM to `convmap heatmap` ends it within seconds: exit 1, the finished photos\' outputs and CSV rows kept, the stuck one skipped, nothing partial', async () => {
    const dir = path.join(tmp.path, 'photos');
    await fs.mkdir(dir, { recursive: true });
    await fs.writeFile(path.join(dir, 'a.png'), await photo(3));
    await fs.writeFile(path.join(dir, 'b.png'), await photo(4));
    await fs.writeFile(path.join(dir, 'stuck.png'), await photo(5));
    const out = path.join(tmp.path, 'out');
    const run = startConvmap(['heatmap', '--model', 'builtin', dir, '--out', out, '--scales', '1', '--csv', '--scores', 'none', '--no-cache'], {
      [STALL]: 'stuck.png', CONVMAP_BACKEND: 'cpu',
    });
    let isStalled = false;
    void stalled(run.child, 'stuck.png').then(() => (isStalled = true));
    try {
      // a and b done (their pictures written), and the decoding process stuck in stuck.png.
      const until = Date.now() + 120_000;
      for (;;) {
        const names = await fs.readdir(out).catch(() => [] as string[]);
        if (isStalled && names.includes('a.heatmap.png') && names.includes('b.heatmap.png')) break;
        if (run.child.exitCode !== null) throw new Error(`convmap ended before the stuck photo: ${(await run.result).stderr}`);
        if (Date.now() > until) throw new Error(`the batch did not reach the stuck photo: ${names.join(', ')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const sent = Date.now();
      run.child.kill('SIGTERM');
      // Generous for a loaded machine; the stuck decode alone would take ten minutes.
      const ended = await Promise.race([run.result, new Promise<null>((r) => setTimeout(() => r(null), 20_000))]);
      expect(ended, `still running ${Date.now() - sent} ms after SIGTERM`).not.toBeNull();
      const r = ended as NonNullable<typeof ended>;
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/^2 of 3 photos done .* — cancelled$/m);
      const names = await fs.readdir(out);
      expect(names.filter((n) => !n.startsWith('.')).sort()).toEqual(['a.heatmap.png', 'b.heatmap.png', 'detections.csv', 'summary.csv']);
      expect(names.filter((n) => n.endsWith('.tmp'))).toEqual([]);
      const rows = await csvRows(path.join(out, 'summary.csv'));
      expect(rows.map((c) => [path.basename(c[0]), c[1]])).toEqual([['a.png', 'done'], ['b.png', 'done'], ['stuck.png', 'skipped']]);
      const png = await sharp(path.join(out, 'b.heatmap.png')).metadata();
      expect([png.width, png.height]).toEqual([96, 72]);
    } finally {
      run.child.kill('SIGKILL');
    }
  }, 180_000);

  it('SIGKILL of `convmap heatmap` at the stuck photo: its decoding process (thread blocked) and ONNX Runtime process end too', async () => {
    const dir = path.join(tmp.path, 'killed');
    await fs.mkdir(dir, { recursive: true });
    // A name no other run uses: it marks this run's processes (the environment is inherited).
    const stuck = `stuck-${process.pid}-${Date.now()}.png`;
    await fs.writeFile(path.join(dir, stuck), await photo(6));
    const run = startConvmap(['heatmap', '--model', 'builtin', dir, '--out', path.join(tmp.path, 'killed-out'), '--scales', '1', '--no-cache'], {
      [STALL]: stuck, CONVMAP_BACKEND: 'onnx',
    });
    let isStalled = false;
    void stalled(run.child, stuck).then(() => (isStalled = true));
    try {
      // The decoding process's thread is blocked in the stuck photo.
      const until = Date.now() + 120_000;
      while (!isStalled) {
        if (run.child.exitCode !== null) throw new Error(`convmap ended early: ${(await run.result).stderr}`);
        if (Date.now() > until) throw new Error('the decoding process did not reach the stuck photo');
        await new Promise((r) => setTimeout(r, 100));
      }
      expect((await processesWith(`${STALL}=${stuck}`)).length).toBeGreaterThanOrEqual(2);
      const exited = new Promise((r) => run.child.once('exit', r));
      run.child.kill('SIGKILL');
      // Its exit, not run.result: that waits for the output pipes, which a surviving child would hold open.
      await exited;
      const gone = Date.now() + 20_000;
      while ((await processesWith(`${STALL}=${stuck}`)).length > 0 && Date.now() < gone) await new Promise((r) => setTimeout(r, 200));
      expect(await processesWith(`${STALL}=${stuck}`)).toEqual([]);
    } finally {
      run.child.kill('SIGKILL');
      // Whatever this run left (its processes carry the marker) does not outlive the test.
      for (const pid of await processesWith(`${STALL}=${stuck}`)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone meanwhile.
        }
      }
    }
  }, 180_000);
});
