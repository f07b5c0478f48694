// What a queue worker accepts from a job (main/queue/job.ts) and how a queue URL is shown: pure
// checks, no Redis needed.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseQueueUrl, redactUrl } from '../../main/queue/connection';
import { makeRecipe } from '../../core/recipe';
import { checkHeatmapJob, heatmapJobId, JOB_VERSION, realRoots, type HeatmapJob } from '../../main/queue/job';
import { tempDir } from '../helpers/temp-dir';

const tmp = tempDir('convmap-queue-job-');
let root = '';
let outside = '';
let job: HeatmapJob;

beforeAll(async () => {
  root = await tmp.folder('root', { 'a.png': 'x' });
  outside = await tmp.folder('outside', { 'b.png': 'y' });
  await fs.symlink(path.join(outside, 'b.png'), path.join(root, 'link.png'));
  job = {
    v: JOB_VERSION, photo: path.join(root, 'a.png'), subfolder: 'sub/deeper', outDir: path.join(root, 'out', 'new'),
    model: { path: null },
    recipe: {
      ...makeRecipe({
        scales: [1, 0.5], classChoice: 'top', colormap: 'viridis', opacity: 0.5, threshold: 0.2, mode: 'max', boxes: true, legend: false, detectThreshold: 0.5,
        namePattern: '{name}-{class}', scores: 'full', npyDtype: 'float16', csv: true,
      }),
      model: 'a'.repeat(64), preprocess: 'unit', classChoice: 'top', view: 'absolute',
    },
    run: { overwrite: false, resume: true },
  };
});

const roots = async (): Promise<string[]> => realRoots([root]);
const refusal = async (v: unknown): Promise<string | undefined> => {
  const r = await checkHeatmapJob(v, await roots());
  return r.ok ? undefined : r.reason;
};

describe('checkHeatmapJob', () => {
  it('accepts a well-formed job whose paths are inside the roots (an output folder not made yet included), as a fresh copy', async () => {
    const r = await checkHeatmapJob(job, await roots());
    expect(r).toEqual({ ok: true, value: job });
    expect(r.ok && r.value !== job && r.value.recipe !== job.recipe && r.value.recipe.scales !== job.recipe.scales).toBe(true);
  });

  it('refuses paths outside the roots, also through a symbolic link inside them', async () => {
    expect(await refusal({ ...job, photo: path.join(outside, 'b.png') })).toMatch(/^photo .*b\.png is outside the folders this worker serves/);
    expect(await refusal({ ...job, photo: path.join(root, 'link.png') })).toMatch(/^photo .*link\.png is outside the folders this worker serves/);
    expect(await refusal({ ...job, outDir: path.join(root, '..', 'outside', 'o') })).toMatch(/^output folder .* is outside/);
    expect(await refusal({ ...job, model: { ...job.model, path: '/etc/passwd' } })).toMatch(/^model \/etc\/passwd is outside/);
    expect(await refusal({ ...job, model: { ...job.model, labels: path.join(outside, 'b.png') } })).toMatch(/^labels file .* is outside/);
  });

  it('refuses a sub-folder that climbs out of the output folder, relative paths, and NUL characters', async () => {
    expect(await refusal({ ...job, subfolder: '../x' })).toBe('sub-folder "../x" is not a relative path inside the output folder');
    expect(await refusal({ ...job, photo: 'a.png' })).toBe('photo must be an absolute path, got "a.png"');
    expect(await refusal({ ...job, photo: `${root}/a\u0000.png` })).toBe('photo contains a NUL character');
  });

  it('refuses unknown or missing fields, other layouts and values out of range, naming the field', async () => {
    expect(await refusal({ ...job, code: 'x' })).toBe('job: unexpected field "code"');
    const { run: _r, ...noRun } = job;
    expect(await refusal(noRun)).toBe('job: missing field "run"');
    expect(await refusal({ ...job, v: 1 })).toMatch(/^job layout 1 is not this worker's \(2\)/);
    // The recipe is checked by core/recipe checkRecipe (its messages are tested in test/core/recipe.test.ts), bound to a model.
    expect(await refusal({ ...job, recipe: { ...job.recipe, opacity: 2 } })).toBe('recipe: opacity must be a number from 0 to 1, got 2');
    expect(await refusal({ ...job, recipe: { ...job.recipe, colormap: 'rainbow' } })).toMatch(/^recipe: colormap must be one of .*, got "rainbow"$/);
    expect(await refusal({ ...job, recipe: { ...job.recipe, view: 'xray' } })).toBe('recipe: view must be null or one of absolute, relative, classes, got "xray"');
    expect(await refusal({ ...job, recipe: { ...job.recipe, view: 'relative' } })).toBeUndefined();
    expect(await refusal({ ...job, recipe: { ...job.recipe, namePattern: '../{name}' } })).toMatch(/must not contain folder separators/);
    expect(await refusal({ ...job, recipe: { ...job.recipe, boxes: 'yes' } })).toBe('recipe: boxes must be true or false, got "yes"');
    expect(await refusal({ ...job, recipe: { ...job.recipe, model: 'abc' } })).toBe('recipe: model must be null or 64 hex digits, got "abc"');
    expect(await refusal({ ...job, recipe: { ...job.recipe, model: null } })).toMatch(/^recipe: model must be the model's hash/);
    expect(await refusal({ ...job, recipe: { ...job.recipe, scales: [0] } })).toMatch(/^recipe: /);
    expect(await refusal({ ...job, run: { ...job.run, resume: 'yes' } })).toBe('run.resume must be a boolean, got a string of 3 characters');
    expect(await refusal([job])).toBe('a job must be an object, got an array of 1');
  });
});

describe('heatmapJobId', () => {
  it('is the same for the same photo content and recipe, and differs when either changes', () => {
    const id = heatmapJobId(job, 'f'.repeat(64));
    expect(id).toMatch(/^hm-[0-9a-f]{64}$/);
    expect(heatmapJobId(structuredClone(job), 'f'.repeat(64))).toBe(id);
    expect(heatmapJobId(job, 'e'.repeat(64))).not.toBe(id);
    expect(heatmapJobId({ ...job, recipe: { ...job.recipe, opacity: 0.6 } }, 'f'.repeat(64))).not.toBe(id);
    expect(heatmapJobId({ ...job, recipe: { ...job.recipe, model: 'b'.repeat(64) } }, 'f'.repeat(64))).not.toBe(id);
  });
});

describe('queue URLs', () => {
  it('show the password as *** and keep the rest', () => {
    expect(redactUrl('redis://me:s3cret@host:6380/2')).toBe('redis://me:***@host:6380/2');
    expect(redactUrl('redis://host:6379/0')).toBe('redis://host:6379/0');
    const t = parseQueueUrl('rediss://me:s3cret@host:6380/2');
    expect(t.display).toBe('rediss://me:***@host:6380/2');
    expect(t.connection).toMatchObject({ host: 'host', port: 6380, db: 2, username: 'me', password: 's3cret', tls: {} });
  });

  it('refuse other schemes and bad databases without printing the password', () => {
    expect(() => parseQueueUrl('http://me:s3cret@host/0')).toThrow('--queue http://me:***@host/0: expected redis:// or rediss://');
    expect(() => parseQueueUrl('redis://me:s3cret@host/x')).toThrow('--queue redis://me:***@host/x: database "x" is not a number');
    expect(() => parseQueueUrl('not a url')).toThrow('--queue must be a URL such as redis://127.0.0.1:6379/0');
  });
});
