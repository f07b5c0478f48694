/**
 * Submitting a batch to the queue and following it: one job per photo under an id derived from the
 * photo's content, path, output folder, recipe and model hash (job.ts heatmapJobId), so submitting
 * the same batch again adds nothing and follows the jobs already there. Progress comes as the
 * local batch's events (services/batch RunEvent), so the command line shows the same bar; when
 * every job has finished, summary.csv and detections.csv are written here from the rows the
 * workers handed back, in photo order: the bytes a local run writes.
 *
 * Storage: photos, model and output folder are paths that every worker sees (a shared mount). A
 * probe job asks a worker whether it can read them (and write the output folder) before anything
 * is queued; a path it cannot see refuses the batch.
 *
 * Redis going away is waited for (the connection retries); a job that Redis lost (restarted
 * without persistence) is added again under its id.
 */
import { createHash, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Job, Queue } from 'bullmq';
import type { BatchSummary, RunEvent } from '../services/batch';
import { DETECTIONS_CSV_HEADER, summaryCsvHeader, summaryCsvRow } from '../services/batch';
import { photoHash } from '../services/storage/cache';
import { OrderedCsv } from '../services/csv';
import { checkOutputFolder } from '../io/atomic';
import type { QueueExportRunner } from '../services/window/batch-adapter';
import { CANCELLED_AT_KEY, parseQueueUrl, QUEUE_NAME, redisErrorLine, type QueueTarget } from './connection';
import {
  HEATMAP_JOB, heatmapJobId, JOB_VERSION, PROBE_JOB,
  type HeatmapJob, type HeatmapJobModel, type HeatmapJobResult, type JobRecipe, type JobRunOptions, type ProbeJob, type ProbeResult,
} from './job';

export interface QueueBatchArgs {
  target: QueueTarget;
  /** Absolute paths, in the batch's order. */
  photos: readonly string[];
  /** Per photo, its sub-folder under outDir (scanInputs). */
  subfolders: readonly string[];
  /** Absolute output folder. */
  outDir: string;
  model: HeatmapJobModel;
  /** The model's class labels (summary.csv's columns). */
  labels: readonly string[];
  /** Every photo's recipe, bound to the model (services/batch journalRecipe). */
  recipe: JobRecipe;
  run: JobRunOptions;
  /** Tries per photo before it fails (default 3). */
  attempts?: number;
  /** How long to wait for a worker to answer the path probe, ms (0: no probe). Unanswered: a note, and the batch is queued. */
  probeTimeoutMs: number;
  /** Submit and return without following. */
  detach: boolean;
  /** Stops following (the jobs go on, unless `cancelOnAbort`). */
  signal?: AbortSignal;
  /**
   * On abort, also remove this batch's jobs that no worker has started (reported skipped,
   * 'cancelled'); those in progress finish on their workers.
   */
  cancelOnAbort?: boolean;
  /** Poll period while following, ms (default 300). */
  pollMs?: number;
  onEvent?(event: RunEvent): void;
  /** Lines worth telling (a lost connection, an unanswered probe). */
  onNote?(line: string): void;
}

export interface QueueBatchResult {
  /** The batch's summary; `cancelled` when following stopped before every job finished. */
  summary: BatchSummary;
  /** Jobs submitted (those already on the queue under the same ids are not added again). */
  submitted: number;
  /** True when nothing was followed (--detach) or following stopped. */
  detached: boolean;
  /** The workers that finished this batch's photos (host:pid). */
  workers: string[];
}

const DEFAULT_ATTEMPTS = 3;
/** Events kept in BullMQ's event stream. */
const EVENTS_KEPT = 1000;
const POLL_CHUNK = 2000;

/** The job id of each photo: its content's hash, or its path's when it cannot be read (a worker reports why). */
async function photoKeys(photos: readonly string[]): Promise<string[]> {
  const keys = new Array<string>(photos.length);
  let next = 0;
  const one = async (): Promise<void> => {
    for (let i = next++; i < photos.length; i = next++) {
      keys[i] = await fs.readFile(photos[i]).then((b) => photoHash(b), () => createHash('sha256').update(`unreadable:${photos[i]}`).digest('hex'));
    }
  };
  await Promise.all(Array.from({ length: 4 }, one));
  return keys;
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> => new Promise((resolve) => {
  const t = setTimeout(done, ms);
  function done(): void {
    clearTimeout(t);
    signal?.removeEventListener('abort', done);
    resolve();
  }
  signal?.addEventListener('abort', done, { once: true });
});

/**
 * Asks a worker whether it sees the batch's paths.
 * @returns the answer, or undefined when no worker answered within `timeoutMs`.
 */
async function probePaths(queue: Queue, paths: ProbeJob['paths'], timeoutMs: number, signal?: AbortSignal): Promise<ProbeResult | undefined> {
  const data: ProbeJob = { v: JOB_VERSION, paths };
  const job = await queue.add(PROBE_JOB, data, { jobId: `probe-${randomUUID()}`, lifo: true, attempts: 1, removeOnComplete: { age: 3600 }, removeOnFail: { age: 3600 } });
  const until = Date.now() + timeoutMs;
  while (Date.now() < until && !signal?.aborted) {
    const j = job.id === undefined ? undefined : await Job.fromId<ProbeJob, ProbeResult>(queue, job.id);
    if (j?.finishedOn !== undefined) {
      await j.remove().catch(() => undefined);
      if (j.returnvalue && Array.isArray(j.returnvalue.problems)) return j.returnvalue;
      throw new Error(`the path probe failed on a worker: ${j.failedReason}`);
    }
    await sleep(200, signal);
  }
  await job.remove().catch(() => undefined);
  return undefined;
}

/**
 * Submits one job per photo and, unless `detach`, follows them to the end and writes the CSV files.
 * @throws when the output folder cannot be written here, or a worker cannot see a path the batch names.
 */
export async function runQueueBatch(args: QueueBatchArgs): Promise<QueueBatchResult> {
  const { photos, outDir, signal } = args;
  const note = (line: string): void => args.onNote?.(line);
  const emit = (e: RunEvent): void => {
    try {
      args.onEvent?.(e);
    } catch {
      // A listener's error must not stop the batch.
    }
  };
  // BullMQ's event stream keeps 10 000 events by default, each finished one with its result; Convmap
  // follows job states instead, so a short stream (for monitoring tools) saves Redis memory.
  const queue = new Queue(QUEUE_NAME, { connection: args.target.connection, streams: { events: { maxLen: EVENTS_KEPT } } });
  let lastError = '';
  /** Redis not answering now: a command sent waits until it does. */
  let away = false;
  queue.on('error', (err) => {
    const line = redisErrorLine(err);
    if (line !== lastError) note(`queue ${args.target.display}: ${line} (waiting for it)`);
    lastError = line;
    away = true;
  });
  void queue.client.then((c) => c.on('ready', () => {
    away = false;
    lastError = '';
  }), () => undefined);
  // Stopped while Redis is away: the batch stops now and the connection is dropped, or the stop would wait for Redis.
  let gaveUp = false;
  let giveUpNow: (err: Error) => void = () => undefined;
  const giveUp = new Promise<never>((_resolve, reject) => {
    giveUpNow = reject;
  });
  giveUp.catch(() => undefined);
  const onAbort = (): void => {
    if (!away) return;
    gaveUp = true;
    giveUpNow(new Error('stopped while the queue does not answer'));
    void queue.disconnect().catch(() => undefined);
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  const summary: BatchSummary = {
    total: photos.length, done: 0, failed: [], skipped: [], noCells: [], cancelled: false, cacheHits: 0, resumed: 0, engineCalls: 0, elapsedMs: 0, staleTempsRemoved: 0,
  };
  const results = new Array<HeatmapJobResult | { failed: string } | { skipped: string } | undefined>(photos.length);
  const body = async (): Promise<QueueBatchResult> => {
    await checkOutputFolder(outDir);
    if (args.probeTimeoutMs > 0) {
      const dirs = [...new Set(photos.map((p) => path.dirname(p)))].slice(0, 1000);
      const paths: ProbeJob['paths'] = [
        { path: outDir, write: true },
        ...(args.model.path !== null ? [{ path: args.model.path, write: false }] : []),
        ...(args.model.labels !== undefined ? [{ path: args.model.labels, write: false }] : []),
        ...dirs.map((d) => ({ path: d, write: false })),
      ];
      const answer = await probePaths(queue, paths, args.probeTimeoutMs, signal);
      if (!answer) {
        note(`no worker answered on ${args.target.display} within ${Math.round(args.probeTimeoutMs / 1000)} s: the paths were not checked; the jobs wait for workers`);
      } else if (answer.problems.length > 0) {
        const more = answer.problems.length > 1 ? ` (and ${answer.problems.length - 1} more)` : '';
        throw new Error(`a worker (${answer.worker}) cannot use this batch's paths: ${answer.problems[0]}${more}; photos, model and --out must be on a mount every worker sees, inside its --roots`);
      }
    }

    const keys = await photoKeys(photos);
    const jobs: HeatmapJob[] = photos.map((photo, i) => ({
      v: JOB_VERSION, photo, subfolder: args.subfolders[i] ?? '', outDir, model: args.model, recipe: args.recipe, run: args.run,
    }));
    const ids = jobs.map((job, i) => heatmapJobId(job, keys[i]));
    const attempts = args.attempts ?? DEFAULT_ATTEMPTS;
    const jobOpts = (i: number): { jobId: string; attempts: number; backoff: { type: 'exponential'; delay: number }; removeOnComplete: false; removeOnFail: false } => ({
      jobId: ids[i], attempts, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: false, removeOnFail: false,
    });
    const submittedAt = Date.now();
    for (let i = 0; i < jobs.length; i += 1000) {
      await queue.addBulk(jobs.slice(i, i + 1000).map((data, k) => ({ name: HEATMAP_JOB, data, opts: jobOpts(i + k) })));
    }

    if (args.detach) return { summary, submitted: jobs.length, detached: true, workers: [] };

    const t0 = Date.now();
    // Jobs an earlier submission of this batch had added: their CSV rows replace that one's files.
    let earlier = 0;
    const started = new Set<number>();
    const workers = new Set<string>();
    for (let i = 0; i < photos.length; i++) emit({ type: 'photo', index: i, photo: photos[i], status: 'queued' });
    let remaining = photos.map((_p, i) => i);
    let cursor = 0;
    let lostNoted = false;
    const progress = (): void => {
      const finished = summary.done + summary.noCells.length + summary.failed.length;
      const ms = Date.now() - t0;
      emit({
        type: 'progress', total: photos.length, done: summary.done + summary.noCells.length, failed: summary.failed.length, skipped: summary.skipped.length,
        running: [...started].filter((i) => results[i] === undefined).length, elapsedMs: ms,
        etaMs: finished > 0 ? Math.round((ms / finished) * (photos.length - finished - summary.skipped.length)) : null,
        photosPerMinute: ms > 0 ? (finished * 60_000) / ms : 0,
      });
    };
    progress();
    while (remaining.length > 0 && !signal?.aborted) {
      const chunk = remaining.length <= POLL_CHUNK ? remaining : [...remaining, ...remaining].slice(cursor % remaining.length, (cursor % remaining.length) + POLL_CHUNK);
      cursor += chunk.length;
      const found = await Promise.all(chunk.map((i) => Job.fromId<HeatmapJob, HeatmapJobResult>(queue, ids[i])));
      let changed = false;
      for (let k = 0; k < chunk.length; k++) {
        const i = chunk[k];
        const job = found[k];
        if (!job) {
          if (Number((await (await queue.client).get(CANCELLED_AT_KEY)) ?? 0) >= submittedAt) {
            // Removed by `convmap queue cancel`.
            results[i] = { skipped: 'cancelled' };
            summary.skipped.push({ photo: photos[i], reason: 'cancelled' });
            emit({ type: 'photo', index: i, photo: photos[i], status: 'skipped', reason: 'cancelled' });
            changed = true;
            continue;
          }
          // Lost by Redis (restarted without persistence, or flushed): queued again under its id.
          if (!lostNoted) note(`jobs missing from ${args.target.display} (Redis restarted without persistence?): queued again`);
          lostNoted = true;
          await queue.add(HEATMAP_JOB, jobs[i], jobOpts(i));
          continue;
        }
        if (job.processedOn !== undefined && !started.has(i)) {
          started.add(i);
          emit({ type: 'photo', index: i, photo: photos[i], status: 'running' });
          changed = true;
        }
        if (job.finishedOn === undefined) continue;
        const value = job.returnvalue as HeatmapJobResult | null;
        if (value && typeof value === 'object' && (value.status === 'done' || value.status === 'no cells')) {
          results[i] = value;
          workers.add(value.worker);
          if (job.timestamp < submittedAt) earlier++;
          if (value.status === 'done') {
            summary.done++;
            if (value.outcome.resumed) summary.resumed++;
            else if (value.outcome.cachedScales === value.outcome.cells.length) summary.cacheHits++;
            emit({ type: 'photo', index: i, photo: photos[i], status: 'done', outcome: value.outcome });
          } else {
            summary.noCells.push({ photo: photos[i], reason: value.reason ?? 'no cells' });
            emit({ type: 'photo', index: i, photo: photos[i], status: 'no cells', reason: value.reason, outcome: value.outcome });
          }
        } else {
          const reason = job.failedReason || 'failed on a worker';
          results[i] = { failed: reason };
          summary.failed.push({ photo: photos[i], reason });
          emit({ type: 'photo', index: i, photo: photos[i], status: 'failed', reason });
        }
        changed = true;
      }
      remaining = remaining.filter((i) => results[i] === undefined);
      if (changed) progress();
      if (remaining.length > 0) await sleep(args.pollMs ?? 300, signal);
    }
    if (signal?.aborted && args.cancelOnAbort && remaining.length > 0) {
      let removed = 0;
      for (const i of remaining) {
        const job = await Job.fromId<HeatmapJob, HeatmapJobResult>(queue, ids[i]);
        const state = job ? await job.getState() : 'unknown';
        if (!job || !['waiting', 'delayed', 'prioritized', 'paused'].includes(state)) continue;
        // A worker may take it meanwhile: then it is locked, cannot be removed, and finishes there.
        const gone = await job.remove().then(() => true, () => false);
        if (!gone) continue;
        removed++;
        results[i] = { skipped: 'cancelled' };
        summary.skipped.push({ photo: photos[i], reason: 'cancelled' });
        emit({ type: 'photo', index: i, photo: photos[i], status: 'skipped', reason: 'cancelled' });
      }
      remaining = remaining.filter((i) => results[i] === undefined);
      note(`cancelled: ${removed} waiting job${removed === 1 ? '' : 's'} removed from ${args.target.display}${remaining.length ? `; ${remaining.length} in progress finish on the workers (not followed)` : ''}`);
      progress();
    }
    summary.elapsedMs = Date.now() - t0;
    summary.cancelled = summary.skipped.length > 0;
    summary.failed.sort((a, b) => photos.indexOf(a.photo) - photos.indexOf(b.photo));
    if (remaining.length > 0) {
      summary.cancelled = true;
      return { summary, submitted: jobs.length, detached: true, workers: [...workers] };
    }
    if (args.recipe.csv) {
      const summaryCsv = await OrderedCsv.open(path.join(outDir, 'summary.csv'), summaryCsvHeader(args.labels));
      const detectionsCsv = await OrderedCsv.open(path.join(outDir, 'detections.csv'), DETECTIONS_CSV_HEADER).catch(async (err: unknown) => {
        await summaryCsv.discard();
        throw err;
      });
      results.forEach((r, i) => {
        if (r && 'failed' in r) {
          summaryCsv.put(i, summaryCsvRow(photos[i], 'failed', r.failed));
          detectionsCsv.put(i, '');
        } else if (r && 'skipped' in r) {
          summaryCsv.put(i, summaryCsvRow(photos[i], 'skipped', r.skipped));
          detectionsCsv.put(i, '');
        } else {
          summaryCsv.put(i, r?.rows?.summary ?? '');
          detectionsCsv.put(i, r?.rows?.detections ?? '');
        }
      });
      const replace = args.run.overwrite || summary.resumed > 0 || earlier > 0;
      summary.csv = { summary: await summaryCsv.finish(replace), detections: await detectionsCsv.finish(replace) };
      // A write that fell short (a full disk) leaves a parseable prefix: say so rather than print it as complete.
      for (const [file, why] of [[summary.csv.summary, summaryCsv.incomplete], [summary.csv.detections, detectionsCsv.incomplete]] as const) {
        if (why === undefined) continue;
        const message = `${file} is incomplete: ${why}`;
        (summary.csv.incomplete ??= []).push(message);
        emit({ type: 'warning', message });
      }
    }
    progress();
    return { summary, submitted: jobs.length, detached: false, workers: [...workers] };
  };
  try {
    const running = body();
    // Given up on: what it still waits for is dropped with the connection.
    running.catch(() => undefined);
    return await Promise.race([running, giveUp]);
  } catch (err) {
    if (!gaveUp) throw err;
    note(`stopped: the queue ${args.target.display} does not answer${lastError ? ` (${lastError})` : ''}; jobs it already holds stay there`);
    photos.forEach((photo, index) => {
      if (results[index] !== undefined) return;
      summary.skipped.push({ photo, reason: 'cancelled' });
      emit({ type: 'photo', index, photo, status: 'skipped', reason: 'cancelled' });
    });
    summary.cancelled = true;
    return { summary, submitted: 0, detached: true, workers: [] };
  } finally {
    signal?.removeEventListener('abort', onAbort);
    // Given up on, Redis is away: closing would wait for it.
    if (gaveUp) void queue.close().catch(() => undefined);
    else await queue.close().catch(() => undefined);
  }
}

/**
 * The window's export on a queue (services/window/batch-adapter's QueueExportRunner): submits and follows
 * to the end; Cancel removes the jobs no worker has started.
 */
export const runQueueExport: QueueExportRunner = async (req) => {
  const { url, ...rest } = req;
  const result = await runQueueBatch({ ...rest, target: parseQueueUrl(url), detach: false, cancelOnAbort: true });
  return result.summary;
};
