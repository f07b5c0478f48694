/**
 * A queue worker: takes heatmap jobs from BullMQ and runs each through the one batch path
 * (services/batch runBatch on that one photo: the same pipeline, export, journal and CSV rows as a
 * local batch), so its files are the bytes a local run with the same recipe writes. The model is
 * read once from the path the job names, its hash checked against the job's, and kept.
 *
 * Faults: a job is validated first (job.ts) and refused for good when it is malformed or names a
 * path outside the roots; a model whose hash differs fails that attempt (another worker, or a later
 * attempt, may see the right file); a photo that fails (decode, read) fails the attempt with its
 * reason and BullMQ retries it up to the job's attempts. A worker killed mid-photo leaves its job
 * locked until the lock runs out; BullMQ's stalled-job check then gives it to another worker, and
 * the output folder's journal (services/batch) makes a photo whose files were complete count as
 * done instead of written twice.
 */
import os from 'node:os';
import { promises as fs, constants as fsConstants } from 'node:fs';
import path from 'node:path';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { ConvertedModelInfo } from '../../core/model-info';
import { selectBackend, type EngineBackendRequest } from '../engine/backend';
import type { DeviceRequest } from '../ort/devices';
import type { Engine, ModelHandle } from '../engine/engine';
import { JOURNAL_FILE, journalKey, journalRecipe, type RunEvent, type PhotoOutcome } from '../services/batch';
import { photoHash, type ScoreCache } from '../services/storage/cache';
import { QUEUE_NAME, redisErrorLine, type QueueTarget } from './connection';
import { checkHeatmapJob, HEATMAP_JOB, JOB_VERSION, PROBE_JOB, rootsProblem, type HeatmapJob, type HeatmapJobResult, type ProbeResult } from './job';

export interface WorkerOptions {
  target: QueueTarget;
  /** Real paths of the folders jobs may name (job.ts realRoots). */
  roots: string[];
  /** Photos in progress at once (BullMQ concurrency). */
  concurrency: number;
  backend: EngineBackendRequest;
  device: DeviceRequest;
  /** Inference threads (default: all cores). */
  threads?: number;
  /** Score cache, or null for none. */
  cache: ScoreCache | null;
  /**
   * How long a job's lock lasts without renewal, ms: a killed worker's job goes to another worker
   * about this long after the kill (BullMQ's lockDuration and stalledInterval).
   */
  lockMs: number;
  /** One line per event (job done or failed, a Redis error), without secrets. */
  log(line: string): void;
}

/** A running worker. */
export interface QueueWorker {
  readonly id: string;
  readonly engine: Engine;
  /** Stops taking jobs, lets the ones in progress finish, closes the connection and the engine. */
  close(): Promise<void>;
}

/** Longest wait for a graceful close (photos in progress, then the connection). */
const CLOSE_TIMEOUT_MS = 30_000;

interface LoadedModel {
  info: ConvertedModelInfo;
  handle: ModelHandle;
}

/** A journal line of services/batch (the fields read here). */
interface JournalLine {
  key?: string;
  photo?: string;
  file?: string;
  files?: { png?: unknown; json?: unknown; npy?: unknown };
  outcome?: PhotoOutcome;
  summaryRow?: string;
  detectionRows?: string;
}

/**
 * The output folders' journals (services/batch JOURNAL_FILE), read incrementally: each job reads
 * only what was appended since the last one, instead of the whole file (which grows by a line per
 * photo: read whole per job, a batch would cost the square of its size).
 */
class JournalReader {
  /** Per output folder: bytes indexed so far (whole lines), and per photo file where its lines are ([offset, length] pairs). */
  private readonly folders = new Map<string, { scanned: number; byFile: Map<string, number[]> }>();
  private chain: Promise<unknown> = Promise.resolve();

  /** Entries recorded for `file` in `outDir`'s journal so far (one read at a time: they share offsets). */
  entries(outDir: string, file: string): Promise<JournalLine[]> {
    const next = this.chain.then(() => this.read(outDir, file));
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async read(outDir: string, file: string): Promise<JournalLine[]> {
    let f = this.folders.get(outDir);
    if (!f) {
      f = { scanned: 0, byFile: new Map() };
      this.folders.set(outDir, f);
    }
    const fh = await fs.open(path.join(outDir, JOURNAL_FILE), 'r').catch(() => null);
    if (!fh) return [];
    try {
      const { size } = await fh.stat();
      if (size < f.scanned) Object.assign(f, { scanned: 0, byFile: new Map() });
      if (size > f.scanned) {
        const buf = Buffer.alloc(size - f.scanned);
        const { bytesRead } = await fh.read(buf, 0, buf.length, f.scanned);
        let at = 0;
        // Only whole lines are indexed; a line still being written is read again next time.
        for (let nl = buf.indexOf(10, at); nl >= 0 && nl < bytesRead; nl = buf.indexOf(10, at)) {
          try {
            const e = JSON.parse(buf.subarray(at, nl).toString('utf8')) as JournalLine;
            if (typeof e.file === 'string') f.byFile.set(e.file, [...(f.byFile.get(e.file) ?? []), f.scanned + at, nl - at]);
          } catch {
            // A line cut by a kill: that photo is redone.
          }
          at = nl + 1;
        }
        f.scanned += at;
      }
      // Only the offsets are kept (a journal line is a kilobyte or more): this photo's lines are read again.
      const where = f.byFile.get(file) ?? [];
      const lines: JournalLine[] = [];
      for (let i = 0; i < where.length; i += 2) {
        const line = Buffer.alloc(where[i + 1]);
        await fh.read(line, 0, line.length, where[i]);
        try {
          lines.push(JSON.parse(line.toString('utf8')) as JournalLine);
        } catch {
          // Changed under us: not a resume.
        }
      }
      return lines;
    } finally {
      await fh.close();
    }
  }
}

/** True when every file an entry names is there. */
async function filesExist(files: JournalLine['files']): Promise<boolean> {
  const list = [files?.png, files?.json, files?.npy].filter((x): x is string => typeof x === 'string');
  if (typeof files?.png !== 'string') return false;
  return (await Promise.all(list.map((f) => fs.stat(f).then((st) => st.isFile(), () => false)))).every(Boolean);
}

/** Answers a probe: one line per path outside the roots, missing, or not readable (writable). */
async function probe(data: unknown, roots: readonly string[], worker: string): Promise<ProbeResult> {
  const d = data as { v?: unknown; paths?: unknown };
  if (d?.v !== JOB_VERSION || !Array.isArray(d.paths) || d.paths.length > 10_000) throw new UnrecoverableError('refused: a malformed probe');
  const problems: string[] = [];
  for (const item of d.paths as unknown[]) {
    const { path: p, write } = (item ?? {}) as { path?: unknown; write?: unknown };
    if (typeof p !== 'string' || p.includes('\u0000') || !p.startsWith('/')) {
      problems.push('a probe path is not an absolute path');
      continue;
    }
    const outside = await rootsProblem(p, roots, write === true ? 'output folder' : 'path');
    if (outside) {
      problems.push(outside);
      continue;
    }
    if (write === true) {
      // The output folder may not exist yet: its nearest existing ancestor must be writable.
      let at = p;
      while (!(await fs.stat(at).then(() => true, () => false)) && at !== '/') at = at.slice(0, Math.max(1, at.lastIndexOf('/')));
      const can = await fs.access(at, fsConstants.W_OK).then(() => true, () => false);
      if (!can) problems.push(`${p} cannot be written from ${worker}`);
    } else if (!(await fs.access(p, fsConstants.R_OK).then(() => true, () => false))) {
      problems.push(`${p} cannot be read from ${worker} (not on its shared mount?)`);
    }
  }
  return { problems, worker };
}

/**
 * Starts a worker on the queue. Resolves once the engine is ready and the worker listens.
 * @throws when the engine cannot start.
 */
export async function startQueueWorker(opts: WorkerOptions): Promise<QueueWorker> {
  const [{ createEngine }, { runBatch }, { prepareModel }, { modelKeyOf, openSession }] = await Promise.all([
    import('../engine/engine'), import('../services/batch'), import('../services/models'), import('../services/session'),
  ]);
  const id = `${os.hostname()}:${process.pid}`;
  // tfjs converts a classifier into the fully convolutional model (ONNX Runtime runs it).
  await selectBackend(opts.backend === 'onnx' ? 'auto' : opts.backend);
  const engine = await createEngine({ backend: opts.backend, device: opts.device, workers: opts.threads });
  const models = new Map<string, Promise<LoadedModel>>();
  const journals = new JournalReader();

  const modelFor = (job: HeatmapJob): Promise<LoadedModel> => {
    const m = job.model;
    const { model: wanted, preprocess, stride } = job.recipe;
    const cacheKey = JSON.stringify({ m, wanted, preprocess, stride });
    let got = models.get(cacheKey);
    if (!got) {
      got = (async () => {
        const prepared = await prepareModel(m.path ?? undefined, { preprocess, stride: stride ?? undefined, output: m.output, labelsFile: m.labels });
        const key = modelKeyOf(prepared);
        if (key !== wanted) {
          throw new Error(`refused: model ${m.path ?? 'builtin'} has hash ${key.slice(0, 16)}… here, the job names ${wanted.slice(0, 16)}… (the file changed after submitting, or this worker sees another copy)`);
        }
        // A converted folder's (or cached conversion's) model.onnx is opened as is, as the CLI and the window do.
        const { handle } = await openSession(engine, m.path ?? undefined, prepared);
        return { info: prepared.info, handle };
      })();
      models.set(cacheKey, got);
      // A model that failed to load (or differed) is read again for the next job.
      got.catch(() => models.delete(cacheKey));
    }
    return got;
  };

  const runJob = async (job: HeatmapJob): Promise<HeatmapJobResult> => {
    const { info, handle } = await modelFor(job);
    const t0 = Date.now();
    const options = { recipe: job.recipe, overwrite: job.run.overwrite };
    // Resume, as a local batch does, from the output folder's journal — read here incrementally, so
    // runBatch is told not to read it whole for each photo.
    if (job.run.resume && !job.run.overwrite) {
      const key = journalKey(journalRecipe({ modelKey: job.recipe.model, info, options }));
      const recorded = (await journals.entries(job.outDir, job.photo)).filter((e) => e.key === key && e.outcome);
      if (recorded.length > 0) {
        const hash = await fs.readFile(job.photo).then((b) => photoHash(b), () => '');
        for (const e of recorded.reverse()) {
          if (e.photo === hash && e.outcome && (await filesExist(e.files))) {
            return { status: 'done', outcome: { ...e.outcome, resumed: true, ms: Date.now() - t0 }, rows: { summary: e.summaryRow ?? '', detections: e.detectionRows ?? '' }, worker: id };
          }
        }
      }
    }
    let last: RunEvent | undefined;
    let rows: { summary: string; detections: string } | undefined;
    await runBatch({
      engine, handle, info, photos: [job.photo], subfolders: [job.subfolder], outDir: job.outDir,
      jobs: 1, cache: opts.cache, modelKey: job.recipe.model,
      options: { ...options, resume: false },
      onEvent: (e) => {
        if (e.type === 'photo' && e.status !== 'queued' && e.status !== 'running') last = e;
      },
      csvRows: (_i, r) => {
        rows = r;
      },
      removeStaleTemps: false,
    });
    if (last?.type !== 'photo') throw new Error('the batch reported nothing for this photo');
    if (last.status === 'done' || last.status === 'no cells') {
      const { maxima: _maxima, ...outcome } = last.outcome ?? { classLabel: '', imageSize: [0, 0], cells: [], detections: 0, cachedScales: 0, ms: 0 };
      return { status: last.status, ...(last.reason !== undefined ? { reason: last.reason } : {}), outcome, ...(rows ? { rows } : {}), worker: id };
    }
    throw new Error(last.reason ?? last.status);
  };

  // A GPU provider that fails on a model hands it to the CPU (engine.deviceFallbacks): said once, when it happens.
  let fallbacksSaid = 0;
  const sayFallbacks = (): void => {
    const lines = engine.deviceFallbacks ?? [];
    for (; fallbacksSaid < lines.length; fallbacksSaid++) opts.log(`device   ${lines[fallbacksSaid]}`);
  };

  const worker = new Worker(QUEUE_NAME, async (job: Job): Promise<HeatmapJobResult | ProbeResult> => {
    if (job.name === PROBE_JOB) return probe(job.data, opts.roots, id);
    if (job.name !== HEATMAP_JOB) throw new UnrecoverableError(`refused: unknown job kind "${String(job.name).slice(0, 40)}"`);
    const checked = await checkHeatmapJob(job.data, opts.roots);
    if (!checked.ok) {
      opts.log(`refused job ${job.id}: ${checked.reason}`);
      throw new UnrecoverableError(`refused: ${checked.reason}`);
    }
    opts.log(`start    ${checked.value.photo} (job ${job.id}, attempt ${job.attemptsMade + 1})`);
    try {
      const result = await runJob(checked.value);
      sayFallbacks();
      opts.log(`${result.status.padEnd(8)} ${checked.value.photo} (${result.outcome.ms} ms${result.outcome.resumed ? ', already written' : ''})`);
      return result;
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      sayFallbacks();
      opts.log(`failed   ${checked.value.photo}: ${reason} (attempt ${job.attemptsMade + 1} of ${job.opts.attempts ?? 1})`);
      throw err;
    }
  }, {
    connection: opts.target.connection,
    concurrency: opts.concurrency,
    lockDuration: opts.lockMs,
    stalledInterval: opts.lockMs,
    maxStalledCount: 2,
    name: id,
  });
  let lastError = '';
  worker.on('error', (err) => {
    // While Redis is away each reconnection attempt fails: one line per distinct error.
    const line = redisErrorLine(err);
    if (line !== lastError) opts.log(`queue ${opts.target.display}: ${line}`);
    lastError = line;
  });
  worker.on('ready', () => {
    if (lastError !== '') opts.log(`queue ${opts.target.display}: connected`);
    lastError = '';
  });
  await worker.waitUntilReady();
  return {
    id,
    engine,
    async close() {
      // Photos in progress finish first; a close that cannot reach Redis gives up after a while
      // (an unfinished job's lock then runs out and another worker takes it: nothing is lost).
      let timer: NodeJS.Timeout | undefined;
      const closed = await Promise.race([
        worker.close().then(() => true),
        new Promise<false>((r) => {
          timer = setTimeout(() => r(false), CLOSE_TIMEOUT_MS);
        }),
      ]);
      clearTimeout(timer);
      if (!closed) opts.log(`queue ${opts.target.display}: not closed within ${CLOSE_TIMEOUT_MS / 1000} s (Redis unreachable?); stopping anyway`);
      await engine.close();
    },
  };
}
