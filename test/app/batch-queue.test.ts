/**
 * The window's export sent to a queue (RunBatchRequest.queue): the app service over the real
 * services, a real redis-server on a free loopback port and one real `convmap worker` process.
 * The worker writes the files; they must be the bytes an export here writes with the same settings.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchEvent, ModelSummary, PhotoRef } from '../../core/api';
import { makeRecipe } from '../../core/recipe';
import { QUEUE_NAME } from '../../main/queue/connection';
import { runQueueExport } from '../../main/queue/submit';
import { createAppService, type AppService } from '../../main/services/window/app-service';
import { writeScene } from '../batch/fixtures';
import { cliSandbox, startConvmap, type CliResult } from '../helpers/cli';
import { freePort, RedisServer, redisServerPath } from '../queue/redis';

const redisBin = redisServerPath();
if (!redisBin) console.log('skipping the window\'s queue export test: no redis-server (Debian: apt-get install redis-server)');

// The default engine (ONNX Runtime) here and in the worker; no score cache on either side.
const cli = cliSandbox('convmap-app-queue-', {});

async function listing(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).filter((f) => !f.startsWith('.')).sort();
}

describe.skipIf(!redisBin)('the window\'s export on a queue (app service, redis-server, one convmap worker)', () => {
  let redis: RedisServer;
  let service: AppService;
  let model: ModelSummary;
  let photos: PhotoRef[];
  let worker: { child: ChildProcess; result: Promise<CliResult>; log(): string } | undefined;
  const events: BatchEvent[] = [];

  const recipe = makeRecipe({
    scales: 'auto', mode: 'max', classChoice: 'top', view: 'absolute', colormap: 'viridis', opacity: 0.6, threshold: 0.1, boxes: true, detectThreshold: 0.5,
    legend: true, namePattern: '{name}.{class}.png', scores: 'summary', csv: true,
  });

  beforeAll(async () => {
    const redisDir = path.join(cli.dir, 'redis');
    await fs.mkdir(redisDir);
    redis = new RedisServer(redisBin as string, await freePort(), redisDir);
    await redis.start();
    const { child, result } = startConvmap(['worker', '--queue', redis.url, '--roots', cli.dir, '--concurrency', '2', '--no-cache'], cli.env());
    let out = '';
    child.stdout?.on('data', (d: Buffer | string) => (out += String(d)));
    worker = { child, result, log: () => out };

    const dir = path.join(cli.dir, 'photos');
    await fs.mkdir(dir);
    for (let i = 0; i < 4; i++) await writeScene(path.join(dir, `p${i}.${i % 2 ? 'png' : 'jpg'}`), 30 + i, 160, 120);
    // A stopped worker does not answer the path probe: the cancel case waits 1.5 s for it, not 20.
    service = await createAppService({ userDataDir: path.join(cli.dir, 'user'), cacheDir: null, queueProbeTimeoutMs: 1500, queueExport: runQueueExport });
    service.onBatch((e) => events.push(e));
    model = await service.loadModel({ path: null });
    photos = (await service.addFolders({ paths: [dir], recursive: false })).photos;
    expect(photos).toHaveLength(4);
    const until = Date.now() + 120_000;
    while (!/ worker \S+ on redis:/.test(out)) {
      if (Date.now() > until || child.exitCode !== null) throw new Error(`the worker did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 180_000);

  afterAll(async () => {
    await service?.close();
    if (worker && worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
    await worker?.result.catch(() => undefined);
    await redis?.kill();
  }, 60_000);

  it('the worker exports the photos: statuses done, the same progress events, and every file equal to an export here', async () => {
    const ids = photos.map((p) => p.id);
    const local = path.join(cli.dir, 'local');
    const queued = path.join(cli.dir, 'queued');
    await fs.mkdir(local);
    await fs.mkdir(queued);
    service.allowExportDir(local);
    service.allowExportDir(queued);
    const here = await service.runBatch({ batchId: 'here', modelId: model.id, photoIds: ids, recipe, export: { outDir: local } });
    expect(here).toMatchObject({ done: 4, failed: [], cancelled: false });

    const res = await service.runBatch({ batchId: 'q', modelId: model.id, photoIds: ids, recipe, export: { outDir: queued }, queue: redis.url });
    expect(res).toMatchObject({ batchId: 'q', total: 4, done: 4, failed: [], skipped: 0, cancelled: false });
    expect(res.statuses).toEqual(['done', 'done', 'done', 'done']);
    // The outputs a worker wrote are reported as an export here reports its own.
    expect(res.outputs.map((f) => path.relative(queued, f)).sort()).toEqual(here.outputs.map((f) => path.relative(local, f)).sort());
    expect(res.csv?.summary).toBe(path.join(queued, 'summary.csv'));
    // Photo events: each photo queued, then done with its PNG; progress ends at 4 of 4.
    const mine = events.filter((e) => e.batchId === 'q');
    for (const id of ids) {
      const st = mine.filter((e): e is Extract<BatchEvent, { type: 'photo' }> => e.type === 'photo' && e.photoId === id);
      expect(st[0].status).toBe('queued');
      expect(st.at(-1)).toMatchObject({ status: 'done', output: expect.stringMatching(new RegExp(`^${queued}/`)) });
    }
    const last = mine.filter((e) => e.type === 'progress').at(-1);
    expect(last).toMatchObject({ total: 4, done: 4, failed: 0 });
    expect(worker?.log()).toMatch(/ done /);

    expect(await listing(queued)).toEqual(await listing(local));
    expect((await listing(local)).filter((f) => f.endsWith('.png'))).toHaveLength(4);
    for (const f of await listing(local)) {
      const a = await fs.readFile(path.join(local, f));
      const b = await fs.readFile(path.join(queued, f));
      // The CSV files name the folder they are in.
      if (f.endsWith('.csv')) expect(b.toString('utf8').replaceAll(queued, local), f).toBe(a.toString('utf8'));
      else expect(b.equals(a), f).toBe(true);
    }
  }, 180_000);

  it('Cancel in the window removes the batch\'s jobs no worker has started: photos skipped, the queue left empty', async () => {
    const ids = photos.map((p) => p.id);
    const out = path.join(cli.dir, 'cancelled');
    await fs.mkdir(out);
    service.allowExportDir(out);
    const child = worker?.child as ChildProcess;
    // Stopped, the worker takes no job: all four wait on the queue.
    child.kill('SIGSTOP');
    try {
      const running = service.runBatch({ batchId: 'c', modelId: model.id, photoIds: ids, recipe, export: { outDir: out }, queue: redis.url });
      const until = Date.now() + 60_000;
      while (events.filter((e) => e.batchId === 'c' && e.type === 'progress').length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      await service.cancel('c');
      const res = await running;
      expect(res).toMatchObject({ done: 0, skipped: 4, cancelled: true });
      // As a cancelled batch here: no picture, and CSV files that list each photo as skipped.
      expect(res.outputs).toEqual([path.join(out, 'summary.csv'), path.join(out, 'detections.csv')]);
      expect(res.statuses).toEqual(['skipped', 'skipped', 'skipped', 'skipped']);
      const warnings = events.filter((e): e is Extract<BatchEvent, { type: 'warning' }> => e.batchId === 'c' && e.type === 'warning').map((e) => e.message);
      expect(warnings).toContain(`cancelled: 4 waiting jobs removed from ${redis.url}`);
      const q = new Queue(QUEUE_NAME, { connection: { host: '127.0.0.1', port: redis.port } });
      try {
        expect(await q.getJobCounts('waiting', 'active', 'delayed', 'prioritized')).toMatchObject({ waiting: 0, active: 0, delayed: 0, prioritized: 0 });
      } finally {
        await q.close();
      }
    } finally {
      child.kill('SIGCONT');
    }
    expect(await listing(out)).toEqual(['detections.csv', 'summary.csv']);
    const rows = (await fs.readFile(path.join(out, 'summary.csv'), 'utf8')).trim().split('\n').slice(1);
    expect(rows).toHaveLength(4);
    for (const r of rows) expect(r).toMatch(/,skipped,cancelled/);
  }, 120_000);

  it('a queue that does not answer: its warnings show the URL without the password, and Cancel stops the batch and says so', async () => {
    // Nothing listens on a port just found free.
    const port = await freePort();
    const url = `redis://convmap:hunter2@127.0.0.1:${port}/0`;
    const out = path.join(cli.dir, 'unreachable');
    await fs.mkdir(out);
    service.allowExportDir(out);
    const running = service.runBatch({ batchId: 'u', modelId: model.id, photoIds: photos.map((p) => p.id), recipe, export: { outDir: out }, queue: url });
    const warnings = (): string[] => events.filter((e): e is Extract<BatchEvent, { type: 'warning' }> => e.batchId === 'u' && e.type === 'warning').map((e) => e.message);
    const until = Date.now() + 30_000;
    while (warnings().length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(warnings()[0]).toMatch(new RegExp(`^queue redis://convmap:\\*\\*\\*@127\\.0\\.0\\.1:${port}/0: .*ECONNREFUSED`));
    await service.cancel('u');
    const res = await running;
    expect(res).toMatchObject({ done: 0, skipped: 4, cancelled: true, outputs: [] });
    expect(res.statuses).toEqual(['skipped', 'skipped', 'skipped', 'skipped']);
    expect(warnings().at(-1)).toMatch(/^stopped: the queue redis:\/\/convmap:\*\*\*@127\.0\.0\.1:\d+\/0 does not answer/);
    for (const w of warnings()) expect(w).not.toContain('hunter2');
    expect(await listing(out)).toEqual([]);
  }, 60_000);
});
