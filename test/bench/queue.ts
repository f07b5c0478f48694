/**
 * queue: the same photos through one local batch and through `convmap heatmap --queue` served by
 * 1, 2 and 4 local `convmap worker` processes on a redis-server started here (loopback). Reports
 * photos a minute for each (from the summaries' own elapsed times: start-up left out on both sides,
 * a worker's model preparation on its first job left in), the queue's overhead per job (the
 * batch submitted again to one worker with its jobs forgotten: each photo is then found in the
 * output folder's journal, so what a job costs is the queue's round trip), and Redis memory per
 * queued and per finished job.
 * On a machine with few cores the workers share them: expect the CPU, not the queue, to cap it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { QUEUE_NAME } from '../../main/queue/connection';
import { writeScene } from '../batch/fixtures';
import { freePort, RedisServer, redisServerPath, usedMemory } from '../queue/redis';

const repo = path.resolve(import.meta.dirname, '../..');

interface Run { code: number | null; stdout: string }

function convmap(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; done: Promise<Run>; out(): string } {
  const child = spawn(process.execPath, [path.join(repo, 'bin/convmap.mjs'), ...args], { cwd: repo, env, stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  const done = new Promise<Run>((resolve) => child.on('close', (code) => resolve({ code, stdout })));
  return { child, done, out: () => stdout };
}

/** Seconds from a summary line "N of M photos done in 12.3s" (or 1m02s). */
function elapsedSeconds(stdout: string): number {
  const m = /photos done in (?:(\d+)m)?(\d+(?:\.\d+)?)s/.exec(stdout);
  if (!m) throw new Error(`no summary in: ${stdout.slice(-400)}`);
  return Number(m[1] ?? 0) * 60 + Number(m[2]);
}

/** The queue case; `quick` uses 40 photos instead of 200. */
export async function queueBench(quick: boolean): Promise<Record<string, unknown>> {
  const bin = redisServerPath();
  if (!bin) return { case: 'queue', skipped: 'no redis-server (Debian: apt-get install redis-server)' };
  const photos = quick ? 40 : 200;
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-bench-queue-'));
  const env: NodeJS.ProcessEnv = { ...process.env, CONVMAP_CACHE_DIR: path.join(dir, 'cache') };
  delete env.CONVMAP_BACKEND;
  const redisDir = path.join(dir, 'redis');
  await fs.mkdir(redisDir);
  const redis = new RedisServer(bin, await freePort(), redisDir);
  await redis.start();
  const workers: ReturnType<typeof convmap>[] = [];
  try {
    const photoDir = path.join(dir, 'photos');
    await fs.mkdir(photoDir);
    for (let i = 0; i < photos; i++) await writeScene(path.join(photoDir, `p${String(i).padStart(3, '0')}.jpg`), i + 1);
    const heatmap = (out: string, ...extra: string[]): string[] => ['heatmap', '--model', 'builtin', photoDir, '--out', path.join(dir, out), '--no-cache', ...extra];
    const local = await convmap(heatmap('local'), env).done;
    if (local.code !== 0) throw new Error('local batch failed');
    const localSeconds = elapsedSeconds(local.stdout);

    // Memory: the batch queued with no worker running, then removed. A first submission loads
    // BullMQ's scripts into Redis (a fixed cost, not a job's), so the second one is measured.
    const queue = new Queue(QUEUE_NAME, { connection: { host: '127.0.0.1', port: redis.port } });
    await convmap(heatmap('q-warm', '--queue', redis.url, '--detach'), env).done;
    await queue.obliterate({ force: true });
    const empty = await usedMemory(redis.port);
    const detached = await convmap(heatmap('q-mem', '--queue', redis.url, '--detach'), env).done;
    if (detached.code !== 0) throw new Error('submitting failed');
    const queuedBytes = (await usedMemory(redis.port)) - empty;
    await queue.obliterate({ force: true });

    const byWorkers: Record<string, unknown>[] = [];
    let finishedBytes = 0;
    let overheadMs = 0;
    for (const n of [1, 2, 4]) {
      await queue.obliterate({ force: true });
      const before = await usedMemory(redis.port);
      for (let i = 0; i < n; i++) workers.push(convmap(['worker', '--queue', redis.url, '--roots', dir, '--no-cache', '--threads', String(Math.max(1, Math.floor(os.availableParallelism() / n)))], env));
      const mine = workers.slice(-n);
      const until = Date.now() + 180_000;
      while (!mine.every((w) => / worker \S+ on redis:/.test(w.out())) && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
      const run = await convmap(heatmap(`q-${n}`, '--queue', redis.url), env).done;
      if (run.code !== 0) throw new Error(`queue batch on ${n} workers failed`);
      const seconds = elapsedSeconds(run.stdout);
      // Measured on the second run: the first loads the workers' scripts into Redis.
      if (n === 2) finishedBytes = (await usedMemory(redis.port)) - before;
      byWorkers.push({
        workers: n, photosPerMinute: +((photos * 60) / seconds).toFixed(1), seconds,
      });
      if (n === 1) {
        // The same batch again after forgetting its jobs: every photo is found in the output folder's
        // journal, so a job costs what the queue costs (fetch, validate, look up, complete, follow).
        await queue.obliterate({ force: true });
        const again = await convmap(heatmap('q-1', '--queue', redis.url), env).done;
        if (again.code !== 0) throw new Error('resubmitted batch failed');
        overheadMs = +((elapsedSeconds(again.stdout) * 1000) / photos).toFixed(1);
      }
      for (const w of mine) w.child.kill('SIGTERM');
      await Promise.all(mine.map((w) => w.done));
    }
    await queue.close();
    // The machine may be shared: a second local run shows how much its speed drifted meanwhile.
    const localAgain = await convmap(heatmap('local-again'), env).done;
    const localAgainSeconds = elapsedSeconds(localAgain.stdout);
    return {
      case: 'queue', photos, photoSize: '240×180', cores: os.availableParallelism(),
      local: { photosPerMinute: +((photos * 60) / localSeconds).toFixed(1), seconds: localSeconds },
      queue: byWorkers,
      localAtEnd: { photosPerMinute: +((photos * 60) / localAgainSeconds).toFixed(1), seconds: localAgainSeconds },
      queueOverheadMsPerJob: overheadMs,
      redisBytesPerQueuedJob: Math.round(queuedBytes / photos), redisBytesPerFinishedJob: Math.round(finishedBytes / photos),
    };
  } finally {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    await redis.kill();
    await fs.rm(dir, { recursive: true, force: true });
  }
}
