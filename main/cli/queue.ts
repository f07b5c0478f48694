/**
 * The queue on the command line: `convmap worker` (serve heatmap jobs), `convmap queue
 * status|wait|cancel`, and `convmap heatmap … --queue URL` (submit a batch to the workers and
 * follow it with the local batch's progress bar and summary). See docs/cluster.md.
 */
import path from 'node:path';
import { Option, type Command } from 'commander';
import { printable as p, printableJson } from '../../core/printable';
import { ENGINE_BACKEND_REQUESTS, isEngineBackendRequest } from '../engine/backend';
import { DEVICE_REQUESTS, isDeviceRequest } from '../ort/devices';
import type { RunEvent } from '../services/batch';
import { CANCELLED_AT_KEY, parseQueueUrl, QUEUE_NAME, redisErrorLine } from '../queue/connection';
import type { HeatmapJobModel, JobRecipe, JobRunOptions } from '../queue/job';
import { parseInteger } from './options';
import { batchOutput } from './progress';

type Fail = (err: unknown, json?: { file: string }) => void;

function seconds(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return s < 3600 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** How long `convmap queue` waits for Redis before giving up. */
const QUEUE_COMMAND_TIMEOUT_MS = 5000;

/** How long a submitter waits for a worker to answer its path probe. */
const PROBE_TIMEOUT_MS = 20_000;

/** What `convmap heatmap --queue` hands over once it has scanned the photos and prepared the model. */
export interface QueuedHeatmapArgs {
  queue: string;
  detach: boolean;
  json: boolean;
  quiet: boolean;
  modelName: string;
  model: HeatmapJobModel;
  labels: readonly string[];
  photos: readonly string[];
  subfolders: readonly string[];
  /** Files the scan skipped (not images, sub-folders without --recursive). */
  filesSkipped: number;
  recursive: boolean;
  outDir: string;
  recipe: JobRecipe;
  run: JobRunOptions;
}

/**
 * `convmap heatmap … --queue URL`: one job per photo to the workers, then (unless --detach) the
 * same progress bar and summary as a local batch, and the CSV files. Ctrl-C stops following; the
 * jobs go on, and running the same command again follows them (nothing is queued twice).
 */
export async function runQueuedHeatmap(a: QueuedHeatmapArgs): Promise<void> {
  const { runQueueBatch } = await import('../queue/submit');
  const target = parseQueueUrl(a.queue);
  const tty = process.stderr.isTTY === true && !a.json && !a.quiet && !a.detach;
  const { bar, warn } = batchOutput(tty);
  const abort = new AbortController();
  const onSignal = (): void => {
    process.stderr.write('\nconvmap: no longer following — the jobs go on; run the same command again to follow them and write the CSV files\n');
    abort.abort();
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const sig of signals) process.on(sig, onSignal);
  let barStarted = false;
  const onEvent = (e: RunEvent): void => {
    if (e.type === 'progress') {
      if (bar && !barStarted) {
        bar.start(e.total, 0, { photo: '', rate: '0.0', left: '…' });
        barStarted = true;
      }
      bar?.update(e.done + e.failed + e.skipped, { rate: e.photosPerMinute.toFixed(1), left: e.etaMs === null ? '…' : seconds(e.etaMs) });
    } else if (e.type === 'photo') {
      if (e.status === 'running') bar?.update({ photo: p(path.basename(e.photo)) });
      if (e.status === 'done' && e.outcome) {
        const o = e.outcome;
        if (a.json) {
          process.stdout.write(printableJson({ photo: e.photo, status: 'done', png: o.png, scores: o.json, grid: o.npy, resumed: o.resumed === true, class: o.classLabel, model: a.modelName, backend: 'queue', detections: o.detections }) + '\n');
        } else if (!bar && !a.quiet) {
          const cellsText = o.scalePlan ?? `${o.cells.map((c) => `${Number(c.scale.toFixed(3))}: ${c.rows}×${c.cols}`).join(', ')} cells`;
          process.stdout.write(`${p(e.photo)} → ${p(o.png ?? '')} (${p(o.classLabel)}, ${p(cellsText)}${o.resumed ? ', done by an earlier run' : ''})\n`);
        }
      } else if (e.status === 'no cells') {
        if (a.json) process.stdout.write(printableJson({ photo: e.photo, status: 'no cells', reason: e.reason, model: a.modelName }) + '\n');
        else warn(`${e.photo}: ${e.reason ?? 'no cells'}`);
      } else if (e.status === 'failed' && a.json) {
        process.stdout.write(printableJson({ photo: e.photo, status: 'failed', reason: e.reason }) + '\n');
      }
    } else if (e.type === 'warning') {
      warn(e.message);
    }
  };
  let result;
  try {
    result = await runQueueBatch({
      target, photos: a.photos, subfolders: a.subfolders, outDir: a.outDir, model: a.model, labels: a.labels, recipe: a.recipe, run: a.run,
      probeTimeoutMs: PROBE_TIMEOUT_MS, detach: a.detach, signal: abort.signal, onEvent, onNote: warn,
    });
  } finally {
    bar?.stop();
    for (const sig of signals) process.off(sig, onSignal);
  }
  const { summary } = result;
  if (a.detach) {
    const line = `submitted ${count(result.submitted, 'photo')} to ${target.display} (jobs already there are not added again); follow with convmap queue status|wait --queue URL, and run this command again without --detach to write the CSV files`;
    process.stdout.write(a.json ? printableJson({ submitted: result.submitted, queue: target.display }) + '\n' : `${p(line)}\n`);
    return;
  }
  const failed = summary.failed.length;
  if (a.json) {
    process.stdout.write(printableJson({
      summary: { model: a.modelName, backend: 'queue', queue: target.display, workers: result.workers, total: summary.total, done: summary.done, noCells: summary.noCells, failed: summary.failed, skipped: summary.skipped.length, filesSkipped: a.filesSkipped, cancelled: summary.cancelled, cacheHits: summary.cacheHits, csv: summary.csv },
    }) + '\n');
  } else {
    const lines = [
      `${summary.done} of ${summary.total} photos done in ${seconds(summary.elapsedMs)} by model ${p(a.modelName)} with ${count(result.workers.length, 'queue worker')} on ${p(target.display)}`
        + `${summary.cacheHits ? `, ${summary.cacheHits} from the cache` : ''}${summary.resumed ? `, ${summary.resumed} done by an earlier run (--no-resume redoes them)` : ''}`
        + `${result.detached ? ' — no longer followed (the jobs go on)' : summary.cancelled ? ' — cancelled' : ''}`,
    ];
    if (summary.noCells.length) lines.push(`no cells: ${count(summary.noCells.length, 'photo')} smaller than the model's window at every scale`);
    if (summary.skipped.length) lines.push(`skipped: ${count(summary.skipped.length, 'photo')} not processed (cancelled)`);
    if (a.filesSkipped) lines.push(`skipped: ${count(a.filesSkipped, 'file')} that ${a.filesSkipped === 1 ? 'is' : 'are'} not ${a.filesSkipped === 1 ? 'an image' : 'images'}${a.recursive ? '' : ` or ${a.filesSkipped === 1 ? 'a sub-folder' : 'sub-folders'}`}`);
    if (failed) {
      lines.push(`failed: ${failed}`);
      for (const f of summary.failed) lines.push(`  ${p(f.photo)}: ${p(f.reason)}`);
    }
    if (summary.csv) lines.push(`csv: ${p(summary.csv.summary)}, ${p(summary.csv.detections)}${summary.csv.incomplete ? ' (incomplete, see above)' : ''}`);
    if (!a.quiet || failed > 0) process.stdout.write((a.quiet ? lines.filter((l) => !l.startsWith('skipped')) : lines).join('\n') + '\n');
  }
  if (failed > 0 || summary.cancelled || summary.csv?.incomplete) process.exitCode = 1;
}

/** `convmap worker --queue URL --roots DIR[,DIR]`: serves heatmap jobs until SIGTERM or Ctrl-C. */
async function runWorkerCommand(opts: Record<string, string | boolean | undefined>): Promise<void> {
  const [{ startQueueWorker }, { realRoots }, { createDiskCache, defaultCacheDir, parseByteSize }] = await Promise.all([
    import('../queue/worker'), import('../queue/job'), import('../services/storage/cache'),
  ]);
  const target = parseQueueUrl(String(opts.queue));
  const roots = await realRoots(String(opts.roots ?? '').split(',').filter((r) => r !== ''));
  const concurrency = parseInteger('concurrency', opts.concurrency ?? 2, 1, 64);
  const threads = opts.threads !== undefined ? parseInteger('threads', opts.threads, 1, 256) : undefined;
  const lockMs = parseInteger('lock-ms', opts.lockMs ?? 30_000, 1000, 3_600_000);
  const log = (line: string): void => {
    process.stdout.write(`${new Date().toISOString()} ${p(line)}\n`);
  };
  const cache = opts.cache === false ? null : createDiskCache(typeof opts.cacheDir === 'string' ? opts.cacheDir : defaultCacheDir(), {
    onWarning: (m) => log(m), maxBytes: typeof opts.cacheSize === 'string' ? parseByteSize(opts.cacheSize) : undefined,
  });
  const worker = await startQueueWorker({
    target, roots, concurrency, threads, lockMs, cache, log,
    backend: isEngineBackendRequest(opts.backend) ? opts.backend : 'auto',
    device: isDeviceRequest(opts.device) ? opts.device : 'auto',
  });
  log(`worker ${worker.id} on ${target.display} (queue ${QUEUE_NAME}): ${worker.engine.backend === 'onnx' ? `onnx on ${worker.engine.device}` : worker.engine.backend}, ${count(concurrency, 'photo')} at once, roots ${roots.join(', ')}`);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
      stopping = true;
      log(`${signal}: finishing the photos in progress, then stopping (again to quit at once)`);
      worker.close().then(resolve, (err: unknown) => {
        log(`closing: ${redisErrorLine(err)}`);
        resolve();
      });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  log('stopped');
  // Redis clients and engine threads are closed; nothing else should keep the process.
  process.exit(process.exitCode ?? 0);
}

/** `convmap queue status|wait|cancel --queue URL`. */
async function runQueueCommand(action: string, opts: { queue: string; json?: boolean }): Promise<void> {
  if (!['status', 'wait', 'cancel', 'clean'].includes(action)) throw new Error(`queue: unknown action "${action}" (use status, wait, cancel or clean)`);
  const { Queue } = await import('bullmq');
  const target = parseQueueUrl(opts.queue);
  const queue = new Queue(QUEUE_NAME, { connection: target.connection });
  let lastError = '';
  queue.on('error', (err) => {
    const line = redisErrorLine(err);
    if (line !== lastError) process.stderr.write(`convmap: queue ${target.display}: ${p(line)}\n`);
    lastError = line;
  });
  // A wrong address or password: one line after a while, not a command that hangs.
  const reachable = await Promise.race([
    queue.waitUntilReady().then(() => true),
    new Promise<false>((r) => setTimeout(() => r(false), QUEUE_COMMAND_TIMEOUT_MS).unref()),
  ]);
  if (!reachable) {
    await queue.close().catch(() => undefined);
    throw new Error(`cannot reach the queue ${target.display} within ${QUEUE_COMMAND_TIMEOUT_MS / 1000} s${lastError ? `: ${lastError}` : ''}`);
  }
  const kinds = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'] as const;
  const counts = async (): Promise<Record<string, number>> => queue.getJobCounts(...kinds);
  const print = (c: Record<string, number>, workers: number): void => {
    if (opts.json) {
      process.stdout.write(printableJson({ queue: target.display, workers, ...c }) + '\n');
    } else {
      const waiting = (c.waiting ?? 0) + (c.prioritized ?? 0) + (c.delayed ?? 0);
      process.stdout.write(`queue       ${p(target.display)} (${QUEUE_NAME})\nworkers     ${workers}\njobs        ${waiting} waiting, ${c.active ?? 0} running, ${c.completed ?? 0} done, ${c.failed ?? 0} failed\n`);
    }
  };
  try {
    if (action === 'cancel') {
      const before = await counts();
      // Submitters following their batches take the jobs gone from now on as cancelled, not lost.
      await (await queue.client).set(CANCELLED_AT_KEY, String(Date.now()));
      // Waiting and delayed jobs go; jobs in progress finish (their outputs stay complete).
      await queue.drain(true);
      const after = await counts();
      const removed = (before.waiting ?? 0) + (before.prioritized ?? 0) + (before.delayed ?? 0) - ((after.waiting ?? 0) + (after.prioritized ?? 0) + (after.delayed ?? 0));
      process.stdout.write(opts.json ? printableJson({ queue: target.display, removed, running: after.active ?? 0 }) + '\n' : `cancelled   ${count(Math.max(0, removed), 'waiting job')}; ${after.active ?? 0} running finish\n`);
      return;
    }
    if (action === 'clean') {
      // Finished jobs are what make a resubmission add nothing; cleaned, a resubmitted photo is queued
      // again (and counted done at once where the output folder's journal has it).
      const removed = (await queue.clean(0, 0, 'completed')).length + (await queue.clean(0, 0, 'failed')).length;
      process.stdout.write(opts.json ? printableJson({ queue: target.display, removed }) + '\n' : `cleaned     ${count(removed, 'finished job')}\n`);
      return;
    }
    if (action === 'wait') {
      for (;;) {
        const c = await counts();
        if ((c.waiting ?? 0) + (c.prioritized ?? 0) + (c.delayed ?? 0) + (c.active ?? 0) === 0) break;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    const c = await counts();
    print(c, await queue.getWorkersCount());
    if (action === 'wait' && (c.failed ?? 0) > 0) process.exitCode = 1;
  } finally {
    await queue.close().catch(() => undefined);
  }
}

/** Registers `convmap worker` and `convmap queue`; `fail` prints a refusal in one line and sets the exit code. */
export function registerQueueCommands(program: Command, fail: Fail): void {
  program
    .command('worker')
    .description('serve heatmap jobs from a queue (Redis, see docs/cluster.md) until stopped: SIGTERM or Ctrl-C finishes the photos in progress first')
    .requiredOption('--queue <url>', 'the queue: redis://[user:password@]host[:port][/db] (rediss:// for TLS)')
    .requiredOption('--roots <dirs>', 'comma-separated folders jobs may read photos and models from and write outputs to (the shared mount); any other path is refused')
    .option('--concurrency <n>', 'photos in progress at once (a local batch\'s default --jobs: decoding and encoding overlap inference)', '2')
    .option('--threads <n>', 'inference threads (default: all cores)')
    .option('--lock-ms <ms>', 'job lock: a killed worker\'s photo goes to another worker about this long after (default 30000)')
    .option('--no-cache', 'do not read or write the score cache')
    .option('--cache-dir <dir>', 'score cache folder (default $CONVMAP_CACHE_DIR or ~/.cache/convmap)')
    .option('--cache-size <size>', 'bound of the score cache folder, e.g. 2GB')
    .addOption(new Option('--backend <name>', 'inference engine').choices(ENGINE_BACKEND_REQUESTS as string[]))
    .addOption(new Option('--device <name>', 'ONNX Runtime execution provider; auto uses a GPU provider where one loads').choices(DEVICE_REQUESTS as string[]))
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      try {
        await runWorkerCommand(opts);
      } catch (e) {
        fail(e);
      }
    });

  program
    .command('queue')
    .description('the queue\'s jobs: "status" counts them, "wait" waits until none is waiting or running, "cancel" removes the waiting ones, "clean" the finished ones')
    .argument('<action>', 'status, wait, cancel or clean')
    .requiredOption('--queue <url>', 'the queue: redis://[user:password@]host[:port][/db]')
    .option('--json', 'print one JSON object')
    .action(async (action: string, opts: { queue: string; json?: boolean }) => {
      try {
        await runQueueCommand(action, opts);
      } catch (e) {
        fail(e);
      }
    });
}
