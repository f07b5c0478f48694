// One recipe, one key (issue 18 item 1): the command line's flags, the window's run-batch request
// and a queue job that carry the same settings key the resume journal the same way, through the
// functions each of them calls (recipeFromFlags → journalRecipe in `convmap heatmap`; validate.ts
// then journalRecipe in the window's batch; checkHeatmapJob then journalRecipe on a queue worker).
// test/pipeline/callers.test.ts checks the keys the three really write into their journals.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ConvertedModelInfo } from '../../core/model-info';
import { makeRecipe, recipeKey, type Recipe } from '../../core/recipe';
import { recipeFromFlags } from '../../main/cli/heatmap';
import { digitLabels } from '../../main/digits/scene';
import { checkRunBatchRequest } from '../../main/electron/validate';
import { checkHeatmapJob, JOB_VERSION, realRoots } from '../../main/queue/job';
import { journalKey, journalRecipe } from '../../main/services/batch';
import { tempDir } from '../helpers/temp-dir';

const HASH = 'c'.repeat(64);
/** What the key reads of a model: its labels (default class and view) and preprocessing. */
const info = { source: 'digits', preprocess: 'unit', labels: [...digitLabels] } as unknown as ConvertedModelInfo;
const keyOf = (recipe: Recipe): string => journalKey(journalRecipe({ modelKey: HASH, info, options: { recipe } }));

const tmp = tempDir('convmap-recipe-key-');
let root = '';
beforeAll(async () => {
  root = await fs.realpath(await tmp.folder('root', { 'a.png': 'x' }));
});

/** `convmap heatmap` flags as commander hands them over (its defaults included). */
const FLAGS = {
  scales: '1,0.75', mode: 'max', colormap: 'turbo', opacity: '0.65', threshold: '0.2', detectThreshold: '0.5', boxes: true, legend: true,
  scores: 'summary', npyDtype: 'float32', resume: true,
};

/** The same settings as the window sends them: a whole recipe, the class and view left to the model. */
const WINDOW = makeRecipe({ scales: [1, 0.75], mode: 'max', colormap: 'turbo', opacity: 0.65, threshold: 0.2, detectThreshold: 0.5, boxes: true, legend: true, scores: 'summary' });

describe('the journal key', () => {
  it('is the same for the same settings from the CLI\'s flags, the window\'s request and a queue job', async () => {
    const cli = keyOf(recipeFromFlags(FLAGS));
    const ctx = { hasModel: () => true, photoSize: (): [number, number] => [100, 100] };
    const req = checkRunBatchRequest({ batchId: 'b', modelId: 'm', photoIds: ['p'], recipe: WINDOW }, ctx);
    if (!req.ok) throw new Error(req.reason);
    const window = keyOf(req.value.recipe);
    // The submitter sends the recipe bound to the model; the worker checks it and keys its journal.
    const bound = journalRecipe({ modelKey: HASH, info, options: { recipe: recipeFromFlags(FLAGS) } });
    const job = await checkHeatmapJob(JSON.parse(JSON.stringify({
      v: JOB_VERSION, photo: path.join(root, 'a.png'), subfolder: '', outDir: path.join(root, 'out'), model: { path: null }, recipe: bound, run: { overwrite: false, resume: true },
    })), await realRoots([root]));
    if (!job.ok) throw new Error(job.reason);
    const queued = journalKey(journalRecipe({ modelKey: job.value.recipe.model, info, options: { recipe: job.value.recipe } }));
    expect(cli).toMatch(/^[0-9a-f]{64}$/);
    expect(window).toBe(cli);
    expect(queued).toBe(cli);
    // The model's defaults filled in: the digit model has a background class ('any', 'absolute').
    expect(bound).toMatchObject({ model: HASH, preprocess: 'unit', classChoice: 'any', view: 'absolute', namePattern: '{name}.heatmap.png' });
  });

  it('changes with any flag that changes the files, and with the model, but not with how it runs', () => {
    const base = keyOf(recipeFromFlags(FLAGS));
    const changed = [
      { ...FLAGS, opacity: '0.5' }, { ...FLAGS, scales: '1' }, { ...FLAGS, mode: 'mean' }, { ...FLAGS, class: '3' }, { ...FLAGS, view: 'relative' },
      { ...FLAGS, colormap: 'viridis' }, { ...FLAGS, csv: true }, { ...FLAGS, name: '{class}-{name}' }, { ...FLAGS, stride: '2' },
    ].map((f) => keyOf(recipeFromFlags(f)));
    expect(new Set([base, ...changed]).size).toBe(changed.length + 1);
    // "jet" is taken as turbo: the same picture, the same key.
    expect(keyOf(recipeFromFlags({ ...FLAGS, colormap: 'jet' }))).toBe(base);
    // Another model, or the model's effective preprocessing (what --preprocess gave it), is another key.
    expect(journalKey(journalRecipe({ modelKey: 'd'.repeat(64), info, options: { recipe: recipeFromFlags(FLAGS) } }))).not.toBe(base);
    expect(journalKey(journalRecipe({ modelKey: HASH, info: { ...info, preprocess: 'imagenet' }, options: { recipe: recipeFromFlags(FLAGS) } }))).not.toBe(base);
    // --overwrite, --no-resume, --jobs: run options, not recipe fields.
    expect(keyOf(recipeFromFlags({ ...FLAGS, overwrite: true, resume: false, jobs: '3' }))).toBe(base);
    // A name without ".png" is the name with it (export checkNamePattern adds it).
    expect(keyOf(recipeFromFlags({ ...FLAGS, name: '{name}.heatmap' }))).toBe(base);
  });

  it('is made of every recipe field (core/recipe recipeKey), so a new field joins it by itself', () => {
    const bound = journalRecipe({ modelKey: HASH, info, options: { recipe: WINDOW } });
    expect(JSON.parse(recipeKey(bound)).map(([k]: [string]) => k)).toEqual(Object.keys(bound).sort());
  });

  it('refuses bad flags in one line naming the flag or the field', () => {
    expect(() => recipeFromFlags({ ...FLAGS, stride: '0' })).toThrow(/^--stride must be a whole number from 1 to 1024, got "0"$/);
    expect(() => recipeFromFlags({ ...FLAGS, threshold: '1.5' })).toThrow(/^--threshold must be a number from 0 to 1, got "1.5"$/);
    expect(() => recipeFromFlags({ ...FLAGS, mode: 'median' })).toThrow(/^--mode must be one of max, mean, got "median"$/);
    expect(() => recipeFromFlags({ ...FLAGS, name: 'a/{name}' })).toThrow(/^namePattern "a\/\{name\}" must not contain folder separators$/);
    expect(() => recipeFromFlags({ ...FLAGS, scores: 'all' })).toThrow(/^--scores must be one of none, summary, full, got "all"$/);
  });
});
