// `convmap worker` and `convmap heatmap --queue` on a real redis-server (started here on a free
// loopback port), real BullMQ and real worker processes: the files equal a local run's, and kills
// of a worker or of Redis lose nothing and write nothing twice.
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile, type ChildProcess } from 'node:child_process';
import { Job, Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeRecipe } from '../../core/recipe';
import { cliSandbox, REPO, startConvmap, type CliResult } from '../helpers/cli';
import { writeBadFiles, writeScene } from '../batch/fixtures';
import { QUEUE_NAME } from '../../main/queue/connection';
import { HEATMAP_JOB, JOB_VERSION, type HeatmapJob } from '../../main/queue/job';
import { freePort, RedisServer, redisServerPath } from './redis';

const redisBin = redisServerPath();
if (!redisBin) console.log('skipping the queue tests: no redis-server (Debian: apt-get install redis-server)');

// The engine each run picks by default (ONNX Runtime); no score cache, so every run computes its own maps.
const cli = cliSandbox('convmap-queue-', {});
const PHOTOS = 16;

interface RunningWorker {
  child: ChildProcess;
  log(): string;
  result: Promise<CliResult>;
}

describe.skipIf(!redisBin)('convmap heatmap --queue with convmap worker processes', () => {
  let redis: RedisServer;
  let photos = '';
  const workers: RunningWorker[] = [];
  const env = (): Record<string, string | undefined> => cli.env();

  /** Starts `convmap worker` on the test's Redis; resolves once it says it listens. */
  async function startWorker(extraEnv: Record<string, string> = {}): Promise<RunningWorker> {
    const { child, result } = startConvmap(['worker', '--queue', redis.url, '--roots', cli.dir, '--lock-ms', '5000', '--no-cache'], { ...env(), ...extraEnv });
    let out = '';
    child.stdout?.on('data', (d: Buffer | string) => (out += String(d)));
    const w = { child, log: () => out, result };
    workers.push(w);
    const until = Date.now() + 120_000;
    while (!/ worker \S+ on redis:/.test(out)) {
      if (Date.now() > until || child.exitCode !== null) throw new Error(`worker did not start: ${out}\n${(await Promise.race([result, Promise.resolve(undefined)]))?.stderr ?? ''}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return w;
  }

  const heatmap = (folder: string, out: string, ...extra: string[]): string[] =>
    ['heatmap', '--model', 'builtin', folder, '--out', out, '--csv', '--no-cache', ...extra];
  const run = async (args: string[]): Promise<CliResult> => startConvmap(args, env()).result;

  /** Files of a folder (hidden ones — the journal, a killed writer's temporary files — left out), sorted. */
  async function listing(dir: string): Promise<string[]> {
    return (await fs.readdir(dir)).filter((f) => !f.startsWith('.')).sort();
  }

  /** Every file of `got` equals the local run's in `want` byte for byte (CSV files name their own folder: that path is swapped). */
  async function expectSameFiles(want: string, got: string): Promise<void> {
    expect(await listing(got)).toEqual(await listing(want));
    for (const f of await listing(want)) {
      const a = await fs.readFile(path.join(want, f));
      const b = await fs.readFile(path.join(got, f));
      if (f.endsWith('.csv')) expect(b.toString('utf8').replaceAll(got, want), f).toBe(a.toString('utf8'));
      else expect(b.equals(a), f).toBe(true);
    }
  }

  async function jobCounts(): Promise<Record<string, number>> {
    const q = new Queue(QUEUE_NAME, { connection: { host: '127.0.0.1', port: redis.port } });
    try {
      return await q.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized');
    } finally {
      await q.close();
    }
  }

  beforeAll(async () => {
    const dataDir = path.join(cli.dir, 'redis');
    await fs.mkdir(dataDir);
    redis = new RedisServer(redisBin as string, await freePort(), dataDir);
    await redis.start();
    photos = path.join(cli.dir, 'photos');
    await fs.mkdir(photos);
    for (let i = 0; i < PHOTOS; i++) await writeScene(path.join(photos, `p${String(i).padStart(2, '0')}.${i % 2 ? 'png' : 'jpg'}`), i + 1, 160, 120);
    const local = await run(heatmap(photos, path.join(cli.dir, 'local')));
    expect(local.code, local.stderr).toBe(0);
  }, 180_000);

  afterAll(async () => {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.result.catch(() => undefined)));
    await redis?.kill();
  }, 60_000);

  it('a worker SIGKILLed mid-photo: another takes its job after the stalled-job check, and the batch equals a local run (submitted with --detach, then followed)', async () => {
    const victim = await startWorker();
    const out = path.join(cli.dir, 'q-kill');
    const submitted = await run(heatmap(photos, out, '--queue', redis.url, '--detach'));
    expect(submitted.code, submitted.stderr).toBe(0);
    expect(submitted.stdout).toMatch(new RegExp(`^submitted ${PHOTOS} photos to redis://127\\.0\\.0\\.1:${redis.port}/0`));
    // Its first job: the model is still being read, so the photo is certainly unfinished when it dies.
    const until = Date.now() + 60_000;
    while (!/ start +\S+ \(job (\S+),/.test(victim.log()) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    victim.child.kill('SIGKILL');
    const jobId = / start +\S+ \(job (\S+),/.exec(victim.log())?.[1];
    expect(jobId).toBeDefined();
    expect(victim.log()).not.toMatch(/ done /);
    await victim.result;
    await Promise.all([startWorker(), startWorker(), startWorker()]);
    const followed = await run(heatmap(photos, out, '--queue', redis.url));
    expect(followed.code, followed.stderr).toBe(0);
    expect(followed.stdout).toMatch(new RegExp(`^${PHOTOS} of ${PHOTOS} photos done`, 'm'));
    // The killed worker's job was started again by a surviving worker, once.
    const restarts = workers.slice(1).map((w) => w.log().split('\n').filter((l) => l.includes(`(job ${jobId},`)).length);
    expect(restarts.reduce((a, b) => a + b, 0)).toBe(1);
    await expectSameFiles(path.join(cli.dir, 'local'), out);
  }, 240_000);

  it('a batch on three workers writes the bytes a local run writes; submitting it again adds no job and no file', async () => {
    const out = path.join(cli.dir, 'q-three');
    const r = await run(heatmap(photos, out, '--queue', redis.url));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^${PHOTOS} of ${PHOTOS} photos done .* queue workers? on redis://127\\.0\\.0\\.1:${redis.port}/0`, 'm'));
    await expectSameFiles(path.join(cli.dir, 'local'), out);
    const before = await jobCounts();
    const again = await run(heatmap(photos, out, '--queue', redis.url));
    expect(again.code, again.stderr).toBe(0);
    const after = await jobCounts();
    expect(after.completed).toBe(before.completed);
    expect(after.waiting + after.active + after.delayed + after.prioritized).toBe(0);
    // Same files: no "-2" outputs, the CSV files replaced rather than doubled.
    await expectSameFiles(path.join(cli.dir, 'local'), out);
    // Finished jobs forgotten: submitted again, each photo is found in the output folder's journal, not redone.
    const cleaned = await run(['queue', 'clean', '--queue', redis.url]);
    expect(cleaned.stdout).toMatch(/^cleaned +\d+ finished jobs$/m);
    expect((await jobCounts()).completed).toBe(0);
    const requeued = await run(heatmap(photos, out, '--queue', redis.url));
    expect(requeued.code, requeued.stderr).toBe(0);
    expect(requeued.stdout).toMatch(new RegExp(`^${PHOTOS} of ${PHOTOS} photos done .*, ${PHOTOS} done by an earlier run`, 'm'));
    await expectSameFiles(path.join(cli.dir, 'local'), out);
  }, 240_000);

  it('a worker runs a converted folder\'s model.onnx, as a local run does: the same files although weights.bin beside it is all zeros', async () => {
    const folder = path.join(cli.dir, 'converted');
    const converted = await run(['convert', path.join(REPO, 'main/digits/model'), '-o', folder]);
    expect(converted.code, converted.stderr).toBe(0);
    // The tfjs weights no longer say what model.onnx says: a worker that rebuilt the model from them would draw other maps.
    const weights = path.join(folder, 'weights.bin');
    await fs.writeFile(weights, Buffer.alloc((await fs.stat(weights)).size));
    const few = path.join(cli.dir, 'photos-few');
    await fs.mkdir(few);
    for (const f of (await listing(photos)).slice(0, 3)) await fs.copyFile(path.join(photos, f), path.join(few, f));
    const args = (out: string, ...extra: string[]): string[] => ['heatmap', '--model', folder, few, '--out', out, '--csv', '--no-cache', ...extra];
    const local = await run(args(path.join(cli.dir, 'conv-local')));
    expect(local.code, local.stderr).toBe(0);
    await startWorker();
    const queued = await run(args(path.join(cli.dir, 'conv-queue'), '--queue', redis.url));
    expect(queued.code, queued.stderr).toBe(0);
    expect(queued.stdout).toMatch(/^3 of 3 photos done/m);
    await expectSameFiles(path.join(cli.dir, 'conv-local'), path.join(cli.dir, 'conv-queue'));
  }, 240_000);

  it('a worker whose GPU provider fails on a pass (the CPU standing in for it: no GPU here) finishes on the CPU, says so once in its log, and writes the local run\'s files', async () => {
    // Only this worker may take the batch's jobs.
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.result.catch(() => undefined)));
    const w = await startWorker({ CONVMAP_TEST_DEVICE_FAILS: 'cuda:run' });
    try {
      expect(w.log()).toMatch(/ worker \S+ on redis:.*: onnx on cuda,/);
      const queued = await run(heatmap(photos, path.join(cli.dir, 'fell-back'), '--queue', redis.url));
      expect(queued.code, queued.stderr).toBe(0);
      await expectSameFiles(path.join(cli.dir, 'local'), path.join(cli.dir, 'fell-back'));
      expect(w.log().split('\n').filter((l) => / device {3}/.test(l))).toEqual([expect.stringMatching(/ device {3}cuda failed on a pass of the model \(test hook: cuda fails on every pass\): it runs on the CPU$/)]);
    } finally {
      // The tests after this one get plain workers, as before it.
      w.child.kill('SIGTERM');
      await w.result.catch(() => undefined);
      await Promise.all([startWorker(), startWorker()]);
    }
  }, 240_000);

  it('Redis killed and restarted mid-batch: workers and the submitter reconnect and the batch completes, equal to a local run', async () => {
    const out = path.join(cli.dir, 'q-redis');
    const follower = startConvmap(heatmap(photos, out, '--queue', redis.url), env());
    const until = Date.now() + 120_000;
    const pngs = async (): Promise<number> => (existsSync(out) ? (await fs.readdir(out)).filter((f) => f.endsWith('.heatmap.png')).length : 0);
    while (Date.now() < until && (await pngs()) === 0) await new Promise((r) => setTimeout(r, 20));
    await redis.kill();
    // Killed mid-batch: some photos written, not all.
    const atKill = await pngs();
    expect(atKill).toBeGreaterThan(0);
    expect(atKill).toBeLessThan(PHOTOS);
    await new Promise((r) => setTimeout(r, 1500));
    await redis.start();
    const r = await follower.result;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^${PHOTOS} of ${PHOTOS} photos done`, 'm'));
    await expectSameFiles(path.join(cli.dir, 'local'), out);
  }, 240_000);

  it('a photo that cannot be decoded fails after its attempts with the local run\'s reason, and the batch goes on', async () => {
    const dir = path.join(cli.dir, 'poison');
    await fs.mkdir(dir);
    await fs.copyFile(path.join(photos, 'p00.jpg'), path.join(dir, 'a.jpg'));
    await fs.copyFile(path.join(photos, 'p01.png'), path.join(dir, 'b.png'));
    const bad = await writeBadFiles(dir, path.join(photos, 'p02.jpg'));
    await fs.rm(bad.empty);
    await fs.rm(bad.text);
    // Another view than the default's: the recipe travels whole.
    const local = await run(heatmap(dir, path.join(cli.dir, 'poison-local'), '--view', 'relative'));
    expect(local.code).toBe(1);
    const q = await run(heatmap(dir, path.join(cli.dir, 'poison-q'), '--view', 'relative', '--queue', redis.url));
    expect(q.code).toBe(1);
    expect(q.stdout).toMatch(/^2 of 3 photos done/m);
    const reason = (text: string): string | undefined => new RegExp(`^ {2}${bad.truncated.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: (.+)$`, 'm').exec(text)?.[1];
    expect(reason(q.stdout)).toBeDefined();
    expect(reason(q.stdout)).toBe(reason(local.stdout));
    await expectSameFiles(path.join(cli.dir, 'poison-local'), path.join(cli.dir, 'poison-q'));
  }, 240_000);

  it('refuses paths outside the workers\' --roots: at submit time, and a job naming one on the queue', async () => {
    const outside = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-queue-outside-'));
    try {
      await fs.copyFile(path.join(photos, 'p00.jpg'), path.join(outside, 'x.jpg'));
      const r = await run(heatmap(outside, path.join(cli.dir, 'q-outside'), '--queue', redis.url));
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^convmap: a worker \\(\\S+\\) cannot use this batch's paths: path ${outside} is outside the folders this worker serves`, 'm'));

      const job: HeatmapJob = {
        v: JOB_VERSION, photo: path.join(outside, 'x.jpg'), subfolder: '', outDir: path.join(cli.dir, 'q-outside-job'),
        model: { path: null },
        recipe: {
          ...makeRecipe({ scales: [1], colormap: 'turbo', opacity: 0.6, threshold: 0, mode: 'mean', boxes: false, legend: false, detectThreshold: 0.5 }),
          model: '0'.repeat(64), preprocess: 'unit', classChoice: 'any', view: 'absolute',
        },
        run: { overwrite: false, resume: true },
      };
      const queue = new Queue(QUEUE_NAME, { connection: { host: '127.0.0.1', port: redis.port } });
      try {
        const failed = async (data: unknown, id: string): Promise<Job | undefined> => {
          await queue.add(HEATMAP_JOB, data, { jobId: id, attempts: 3, backoff: { type: 'fixed', delay: 100 } });
          const until = Date.now() + 60_000;
          for (;;) {
            const j = await Job.fromId(queue, id);
            if (j?.finishedOn !== undefined || Date.now() > until) return j;
            await new Promise((res) => setTimeout(res, 100));
          }
        };
        const refused = await failed(job, 'test-outside');
        expect(refused?.failedReason).toMatch(new RegExp(`^refused: photo ${path.join(outside, 'x.jpg')} is outside the folders this worker serves`));
        expect(refused?.attemptsMade).toBe(1);
        // Inside the roots but with a model hash that differs from the built-in model's: refused on each attempt.
        const mismatch = await failed({ ...job, photo: path.join(photos, 'p00.jpg') }, 'test-mismatch');
        expect(mismatch?.failedReason).toMatch(/^refused: model builtin has hash [0-9a-f]{16}… here, the job names 0{16}…/);
        expect(mismatch?.returnvalue ?? null).toBeNull();
        // A field the worker does not know: refused, not run.
        const extra = await failed({ ...job, photo: path.join(photos, 'p00.jpg'), script: 'rm -rf /' }, 'test-extra');
        expect(extra?.failedReason).toBe('refused: job: unexpected field "script"');
      } finally {
        await queue.close();
      }
    } finally {
      await fs.rm(outside, { recursive: true, force: true });
    }
  }, 240_000);

  it('a CSV the submitter cannot finish (a full disk) is said to be incomplete in one line, and the run exits 1', async () => {
    if (!workers.some((w) => w.child.exitCode === null && w.child.signalCode === null)) await startWorker();
    const dir = path.join(cli.dir, 'long-names');
    await fs.mkdir(dir);
    // Long names make fat rows: summary.csv outgrows the submitter's file size limit (the workers write the pictures).
    for (let i = 0; i < 18; i++) await writeScene(path.join(dir, `${String(i).padStart(2, '0')}-${'x'.repeat(180)}.png`), i + 1, 160, 120);
    const out = path.join(cli.dir, 'q-full');
    // A full disk, reproduced without mounting one: RLIMIT_FSIZE cuts the submitter's writes short (SIGXFSZ ignored).
    const r = await new Promise<CliResult>((resolve) => {
      execFile('bash', ['-c', `trap '' XFSZ; ulimit -f 8; exec "$@"`, 'bash', process.execPath, path.join(REPO, 'bin/convmap.mjs'), ...heatmap(dir, out, '--queue', redis.url)],
        { cwd: REPO, env: { ...process.env, ...Object.fromEntries(Object.entries(env()).filter((e): e is [string, string] => e[1] !== undefined)) } },
        (err, stdout, stderr) => resolve({ code: err ? Number(err.code) : 0, stdout, stderr }));
    });
    expect(r.code, r.stderr).toBe(1);
    const summaryFile = path.join(out, 'summary.csv');
    const incomplete = r.stderr.split('\n').filter((l) => l.includes('incomplete'));
    // One line per CSV cut short: summary.csv certainly, detections.csv too when its rows outgrew the limit.
    const line = (file: string): RegExp => new RegExp(`^convmap: ${path.join(out, file).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is incomplete: rows of \\d+ photos are missing: cannot write `);
    expect(incomplete.length).toBeGreaterThan(0);
    expect(incomplete[0]).toMatch(line('summary.csv'));
    for (const l of incomplete.slice(1)) expect(l).toMatch(line('detections.csv'));
    expect(r.stdout).toMatch(/^csv: .*summary\.csv, .*detections\.csv \(incomplete, see above\)$/m);
    const lines = (await fs.readFile(summaryFile, 'utf8')).split('\n').filter((l) => l !== '');
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.length).toBeLessThan(19);
  }, 240_000);

  it('never prints a queue URL\'s password', async () => {
    const r = await run(['queue', 'status', '--queue', `redis://someone:sekrit-pass@127.0.0.1:${redis.port}/0`]);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).not.toContain('sekrit-pass');
    expect(r.stderr).toContain(`redis://someone:***@127.0.0.1:${redis.port}/0`);
  }, 60_000);

  it('SIGTERM stops a worker gracefully', async () => {
    const w = workers[workers.length - 1];
    w.child.kill('SIGTERM');
    const r = await w.result;
    expect(r.code).toBe(0);
    expect(w.log()).toMatch(/SIGTERM: finishing the photos in progress/);
    expect(w.log()).toMatch(/ stopped\n$/);
  }, 60_000);
});
