import { describe, expect, it } from 'vitest';
import { makeRecipe, STRIDE_LIMITS } from '../../core/recipe';
import { INVOKES, type InvokeMethod } from '../../core/api';
import {
  checkAddFoldersRequest, checkComputeScoresRequest, checkInvokeArgs, checkLoadModelRequest, checkPaths, checkRunBatchRequest,
  checkSetPreprocessRequest, isAppUrl, LIMITS, senderRefusal, type ValidationContext,
} from '../../main/electron/validate';

const MODEL = 'model-1';
/** What the user chose in this context (dialogs, drops…). */
const CHOSEN = Object.freeze(['/models/m/model.json', 'C:\\models\\m.h5', '/m.json', '/a.jpg', '/b c/d.png', '/photos', 'C:\\day 1']);
const PHOTO = 'photo-1';
const ctx: ValidationContext = Object.freeze({
  hasModel: (id: string) => id === MODEL,
  photoSize: (id: string): [number, number] | undefined => (id === PHOTO ? [3000, 4000] : id === 'photo-2' ? [200, 300] : undefined),
  isExportDir: (dir: string) => dir === '/exports',
  isChosen: (p: string) => CHOSEN.includes(p),
});
const EXPORT = Object.freeze({ outDir: '/exports' });
const RECIPE = Object.freeze(makeRecipe({
  scales: [0.5, 1], mode: 'max', classChoice: 'top', view: 'absolute', colormap: 'turbo', opacity: 0.5, threshold: 0.2, boxes: true, detectThreshold: 0.5,
  legend: false, namePattern: '{name}.{class}.png', scores: 'summary', csv: true,
}));
const BATCH = Object.freeze({ batchId: 'b1', modelId: MODEL, photoIds: [PHOTO, 'photo-2'], recipe: RECIPE });
/** BATCH with recipe fields changed. */
const withRecipe = (changes: Record<string, unknown>): Record<string, unknown> => ({ ...BATCH, recipe: { ...RECIPE, ...changes } });
const origins = Object.freeze({ appOrigin: 'convmap-app://renderer' });
const devOrigins = Object.freeze({ appOrigin: 'convmap-app://renderer', devServerUrl: 'http://localhost:5173/' });

function reason(r: { ok: boolean; reason?: string }): string {
  expect(r.ok).toBe(false);
  return r.reason ?? '';
}

describe('argument validators', () => {
  it('accept a well-formed compute-scores request and return a copy with only its fields', () => {
    const req = { jobId: 'j1', modelId: MODEL, photoId: PHOTO, scales: [1, 1.5, 0.5] };
    const r = checkComputeScoresRequest(req, ctx);
    expect(r).toEqual({ ok: true, value: req });
    if (r.ok) expect(r.value.scales).not.toBe(req.scales);
  });

  it.each([
    [{ jobId: 'j', modelId: MODEL, photoId: PHOTO, scales: [] }, /1–32 numbers/],
    [{ jobId: 'j', modelId: MODEL, photoId: PHOTO, scales: Array(33).fill(1) }, /1–32 numbers, got 33/],
    [{ jobId: 'j', modelId: MODEL, photoId: PHOTO, scales: [1, Number.NaN] }, /finite number/],
    [{ jobId: 'j', modelId: MODEL, photoId: PHOTO, scales: [Infinity] }, /finite number/],
    [{ jobId: 'j', modelId: MODEL, photoId: PHOTO, scales: [-1] }, /finite number/],
    [{ jobId: 'j', modelId: MODEL, photoId: PHOTO, scales: [0] }, /finite number/],
    [{ jobId: 'j', modelId: MODEL, photoId: PHOTO, scales: ['1'] }, /finite number/],
    [{ jobId: 'j', modelId: MODEL, photoId: PHOTO, scales: [8] }, /over the limit/],
    [{ jobId: 'j', modelId: MODEL, photoId: PHOTO, scales: '1,2' }, /array of numbers/],
    [{ jobId: 'j', modelId: 'other', photoId: PHOTO, scales: [1] }, /no loaded model has id "other"/],
    [{ jobId: 'j', modelId: MODEL, photoId: '/etc/passwd', scales: [1] }, /no opened photo/],
    [{ jobId: '', modelId: MODEL, photoId: PHOTO, scales: [1] }, /jobId must be 1–128/],
    [{ jobId: 'x'.repeat(129), modelId: MODEL, photoId: PHOTO, scales: [1] }, /jobId must be 1–128/],
    [{ jobId: 7, modelId: MODEL, photoId: PHOTO, scales: [1] }, /jobId must be a string/],
    [{ jobId: 'j', modelId: MODEL, photoId: PHOTO, scales: [1], path: '/x' }, /unexpected field "path"/],
    [{ jobId: 'j', modelId: MODEL, photoId: PHOTO }, /missing field "scales"/],
    [null, /must be an object/],
    [[1, 2], /must be an object/],
  ])('refuse compute-scores request %j with a reason', (req, why) => {
    expect(reason(checkComputeScoresRequest(req, ctx))).toMatch(why);
  });

  it('accept the built-in model (null path) and an absolute model path with a known preprocessing', () => {
    expect(checkLoadModelRequest({ path: null }, ctx)).toEqual({ ok: true, value: { path: null } });
    expect(checkLoadModelRequest({ path: '/models/m/model.json', preprocess: 'signed' }, ctx)).toEqual({ ok: true, value: { path: '/models/m/model.json', preprocess: 'signed' } });
    expect(checkLoadModelRequest({ path: 'C:\\models\\m.h5' }, ctx).ok).toBe(true);
    expect(checkLoadModelRequest({ jobId: 'load-model:x:1', path: null }, ctx)).toEqual({ ok: true, value: { jobId: 'load-model:x:1', path: null } });
  });

  it.each([
    [{ path: 'relative/model.json' }, /must be absolute/],
    [{ path: '' }, /1–32767 characters/],
    [{ path: '/m\u0000.json' }, /NUL/],
    [{ path: 42 }, /must be a string/],
    [{ path: '/m.json', preprocess: 'sepia' }, /preprocess must be one of raw, .* or normalize:MEAN\/STD/],
    [{ jobId: 7, path: null }, /^jobId must be a string, got number$/],
    [{ jobId: '', path: null }, /^jobId must be 1–\d+ characters, got 0$/],
    [{}, /missing field "path"/],
    [{ path: null, __proto__: { evil: true } }, /must be an object/],
    [undefined, /must be an object/],
  ])('refuse load-model request %j with a reason', (req, why) => {
    expect(reason(checkLoadModelRequest(req, ctx))).toMatch(why);
  });

  it('accept a load-model stride that is a whole number of pixels and refuse others with a reason', () => {
    expect(checkLoadModelRequest({ path: null, stride: 8 }, ctx)).toEqual({ ok: true, value: { path: null, stride: 8 } });
    // The recipe's bound (core/recipe STRIDE_LIMITS), in the recipe's words.
    expect(reason(checkLoadModelRequest({ path: null, stride: 2.5 }, ctx))).toBe(`stride must be null or a whole number from 1 to ${STRIDE_LIMITS.max}, got 2.5`);
    expect(reason(checkLoadModelRequest({ path: null, stride: '8' }, ctx))).toBe(`stride must be null or a whole number from 1 to ${STRIDE_LIMITS.max}, got "8"`);
    expect(reason(checkLoadModelRequest({ path: null, stride: STRIDE_LIMITS.max + 1 }, ctx))).toMatch(/^stride must be/);
    expect(reason(checkLoadModelRequest({ path: null, stride: null }, ctx))).toMatch(/^stride must be/);
    expect(reason(checkLoadModelRequest({ path: null, stride: 0 }, ctx))).toMatch(/^stride must be/);
  });

  it('accept a load-model window (the size a free-size model was trained at) in [8, 4096] and refuse others with a reason', () => {
    expect(checkLoadModelRequest({ path: null, window: 224 }, ctx)).toEqual({ ok: true, value: { path: null, window: 224 } });
    expect(reason(checkLoadModelRequest({ path: null, window: 4 }, ctx))).toBe('window must be a whole number of pixels in [8, 4096], got 4');
    expect(reason(checkLoadModelRequest({ path: null, window: '224' }, ctx))).toBe('window must be a whole number of pixels in [8, 4096], got "224"');
  });

  it('refuse a path the user never chose, naming it, even when it is well-formed', () => {
    expect(reason(checkLoadModelRequest({ path: '/etc/passwd' }, ctx))).toBe('path "/etc/passwd" was not chosen by the user (open it from a dialog, a drop, the command line or the recent list)');
    expect(reason(checkPaths(['/a.jpg', '/usr/share/x.png'], ctx))).toMatch(/^paths\[1\] "\/usr\/share\/x\.png" was not chosen by the user/);
    expect(reason(checkAddFoldersRequest({ paths: ['/usr'], recursive: true }, ctx))).toMatch(/^paths\[0\] "\/usr" was not chosen/);
    const bare: ValidationContext = { hasModel: ctx.hasModel, photoSize: ctx.photoSize };
    expect(reason(checkPaths(['/a.jpg'], bare))).toMatch(/was not chosen/);
  });

  it('accept arrays of absolute paths and refuse anything else', () => {
    expect(checkPaths(['/a.jpg', '/b c/d.png'], ctx)).toEqual({ ok: true, value: ['/a.jpg', '/b c/d.png'] });
    expect(checkPaths([], ctx)).toEqual({ ok: true, value: [] });
    expect(reason(checkPaths('/a.jpg', ctx))).toMatch(/array of strings/);
    expect(reason(checkPaths(['/a.jpg', 3], ctx))).toMatch(/paths\[1\] must be a string/);
    expect(reason(checkPaths(['a.jpg'], ctx))).toMatch(/paths\[0\] must be absolute/);
    expect(reason(checkPaths(Array(LIMITS.paths + 1).fill('/a.jpg'), ctx))).toMatch(/at most/);
  });

  it('accept a well-formed add-folders request and refuse bad shapes with a reason', () => {
    expect(checkAddFoldersRequest({ paths: ['/photos', 'C:\\day 1'], recursive: true }, ctx)).toEqual({ ok: true, value: { paths: ['/photos', 'C:\\day 1'], recursive: true } });
    expect(reason(checkAddFoldersRequest({ paths: ['photos'], recursive: false }, ctx))).toMatch(/paths\[0\] must be absolute/);
    expect(reason(checkAddFoldersRequest({ paths: '/photos', recursive: false }, ctx))).toMatch(/array of strings/);
    expect(reason(checkAddFoldersRequest({ paths: ['/photos'], recursive: 'yes' }, ctx))).toMatch(/recursive must be a boolean/);
    expect(reason(checkAddFoldersRequest({ paths: ['/photos'] }, ctx))).toMatch(/missing field "recursive"/);
    expect(reason(checkAddFoldersRequest({ paths: ['/photos'], recursive: true, out: '/x' }, ctx))).toMatch(/unexpected field "out"/);
    expect(reason(checkAddFoldersRequest(['/photos'], ctx))).toMatch(/must be an object/);
  });

  it('accept a set-preprocess request for a loaded model, as a copy, and refuse bad shapes with a reason', () => {
    const request = { modelId: MODEL, preprocess: 'imagenet' };
    const r = checkSetPreprocessRequest(request, ctx);
    expect(r).toEqual({ ok: true, value: { modelId: MODEL, preprocess: 'imagenet' } });
    expect(r.ok && r.value).not.toBe(request);
    expect(reason(checkSetPreprocessRequest({ modelId: MODEL, preprocess: 'sepia' }, ctx))).toBe('preprocess must be one of raw, unit, signed, inverted, ink, imagenet, caffe or normalize:MEAN/STD (of x / 255, one value or three R,G,B values each) in canonical form, got "sepia"');
    expect(checkSetPreprocessRequest({ modelId: MODEL, preprocess: 'normalize:0.1307/0.3081' }, ctx)).toEqual({ ok: true, value: { modelId: MODEL, preprocess: 'normalize:0.1307/0.3081' } });
    // Main stores and keys caches by the mode's text: only the canonical spelling of a normalisation passes.
    expect(reason(checkSetPreprocessRequest({ modelId: MODEL, preprocess: 'normalize: 0.13070 / 0.3081' }, ctx))).toMatch(/^preprocess must be one of .* got "normalize: 0.13070 \/ 0.3081"$/);
    expect(reason(checkSetPreprocessRequest({ modelId: MODEL, preprocess: 'normalize:0.5/0' }, ctx))).toMatch(/^preprocess must be one of /);
    expect(reason(checkSetPreprocessRequest({ modelId: 'other', preprocess: 'unit' }, ctx))).toBe('no loaded model has id "other"');
    expect(reason(checkSetPreprocessRequest({ modelId: 7, preprocess: 'unit' }, ctx))).toBe('modelId must be a string, got number');
    expect(reason(checkSetPreprocessRequest({ modelId: MODEL }, ctx))).toBe('set-preprocess request: missing field "preprocess"');
    expect(reason(checkSetPreprocessRequest({ modelId: MODEL, preprocess: 'unit', stride: 4 }, ctx))).toBe('set-preprocess request: unexpected field "stride"');
    expect(reason(checkSetPreprocessRequest(null, ctx))).toBe('set-preprocess request must be an object, got null');
  });

  it('accept a run-batch request with and without export settings, as a copy', () => {
    const r = checkRunBatchRequest(BATCH, ctx);
    expect(r).toEqual({ ok: true, value: BATCH });
    if (r.ok) expect(r.value.photoIds).not.toBe(BATCH.photoIds);
    if (r.ok) expect(r.value.recipe).not.toBe(BATCH.recipe);
    expect(checkRunBatchRequest({ ...BATCH, export: EXPORT }, ctx)).toEqual({ ok: true, value: { ...BATCH, export: EXPORT } });
    // 'auto': each photo's default scales, chosen by main; no other word stands for a list.
    expect(checkRunBatchRequest(withRecipe({ scales: 'auto' }), ctx)).toEqual({ ok: true, value: withRecipe({ scales: 'auto' }) });
    expect(reason(checkRunBatchRequest(withRecipe({ scales: 'Auto' }), ctx))).toBe('recipe: scales must be "auto" or a list of numbers, got "Auto"');
  });

  it.each([
    [{ ...BATCH, photoIds: [] }, /1–100000 ids, got 0/],
    [{ ...BATCH, photoIds: 'photo-1' }, /array of ids/],
    [{ ...BATCH, photoIds: [PHOTO, 'nope'] }, /no opened photo has id "nope"/],
    [{ ...BATCH, photoIds: [PHOTO, 5] }, /photoIds\[1\] must be a string/],
    [{ ...BATCH, modelId: 'other' }, /no loaded model has id "other"/],
    [{ ...BATCH, batchId: '' }, /batchId must be 1–128/],
    [withRecipe({ scales: [] }), /^recipe: scales must hold 1–32 numbers/],
    [withRecipe({ scales: [Number.NaN] }), /finite number/],
    // Checked against the largest photo of the batch (4000×3000).
    [withRecipe({ scales: [8] }), /makes the 4000×3000 photo/],
    [withRecipe({ mode: 'median' }), /^recipe: mode must be one of max, mean, got "median"$/],
    [{ ...BATCH, out: '/tmp' }, /unexpected field "out"/],
    [{ batchId: 'b', modelId: MODEL, photoIds: [PHOTO] }, /missing field "recipe"/],
    [{ ...BATCH, export: { outDir: '/etc' } }, /outDir "\/etc" was not chosen in the export dialog/],
    [{ ...BATCH, export: { outDir: 'exports' } }, /outDir must be absolute/],
    [{ ...BATCH, export: { ...EXPORT, colormap: 'turbo' } }, /export settings: unexpected field "colormap"/],
    [withRecipe({ colormap: 'rainbow' }), /^recipe: colormap must be one of/],
    [withRecipe({ view: 'heat' }), /^recipe: view must be null or one of absolute, relative, classes, got "heat"$/],
    [withRecipe({ opacity: 2 }), /^recipe: opacity must be a number from 0 to 1, got 2$/],
    [withRecipe({ threshold: '0.2' }), /^recipe: threshold must be a number from 0 to 1, got "0.2"$/],
    [withRecipe({ detectThreshold: -1 }), /^recipe: detectThreshold must be a number/],
    [withRecipe({ boxes: 1 }), /^recipe: boxes must be true or false, got 1$/],
    [withRecipe({ csv: undefined }), /^recipe: csv must be true or false/],
    [withRecipe({ namePattern: '../{name}' }), /must not contain folder separators/],
    [withRecipe({ namePattern: '{name}-{date}' }), /unknown placeholder \{date\}/],
    [withRecipe({ namePattern: ' ' }), /^recipe: namePattern is empty$/],
    [withRecipe({ classChoice: 3 }), /^recipe: classChoice must be null or a text/],
    [withRecipe({ overwrite: true }), /^recipe: unknown recipe field "overwrite"$/],
    [{ ...BATCH, recipe: { ...RECIPE, stride: undefined } }, /^recipe: stride must be null or a whole number/],
    [{ ...BATCH, export: null }, /export settings must be an object/],
    [null, /must be an object/],
  ])('refuse run-batch request %j with a reason', (req, why) => {
    expect(reason(checkRunBatchRequest(req, ctx))).toMatch(why);
  });

  it('refuse a bad recipe with core/recipe\'s one validator, in one line naming the field', () => {
    const bad: [Record<string, unknown>, string][] = [
      [withRecipe({ opacity: 2 }), 'recipe: opacity must be a number from 0 to 1, got 2'],
      [withRecipe({ smooth: 'yes' }), 'recipe: smooth must be true or false, got "yes"'],
      [withRecipe({ model: '../../etc' }), 'recipe: model must be null or 64 hex digits, got "../../etc"'],
      [{ ...BATCH, recipe: [] }, 'recipe: a recipe must be an object, got an array of 0'],
      [{ ...BATCH, recipe: { ...RECIPE, csv: undefined } }, 'recipe: csv must be true or false, got undefined'],
    ];
    for (const [req, why] of bad) {
      const r = reason(checkRunBatchRequest(req, ctx));
      expect(r).toBe(why);
      expect(r).not.toMatch(/\n/);
    }
  });

  it('accept a queue URL (redis://, rediss://) with an export, as given', () => {
    for (const queue of ['redis://127.0.0.1:6379/0', 'rediss://user:s3cret@cache.example:6380/2', 'redis://[::1]:6379', 'redis://q']) {
      expect(checkRunBatchRequest({ ...BATCH, export: EXPORT, queue }, ctx)).toEqual({ ok: true, value: { ...BATCH, export: EXPORT, queue } });
    }
  });

  it.each([
    ['http://user:hunter2@host:6379/0', /^queue: expected redis:\/\/ or rediss:\/\/, got http:\/\/$/],
    ['redis://user:hunter2@host:6379/zero', /^queue: the database \(after the host\) must be a number$/],
    ['redis://:hunter2@host:6379/0?password=x', /^queue: the URL must not have a query or fragment$/],
    ['redis://:hunter2@host:6379/0 --roots /', /^queue: the URL must not contain spaces or control characters$/],
    ['redis://:hunter2@', /^queue must be a URL such as redis:\/\/127\.0\.0\.1:6379\/0$|^queue: the URL names no host$/],
    ['hunter2', /^queue must be a URL such as redis:\/\/127\.0\.0\.1:6379\/0$/],
    ['', /^queue must be a redis:\/\/ URL of 1–2048 characters, got 0$/],
  ])('refuse the queue URL %s without repeating it (its password)', (queue, why) => {
    const why2 = reason(checkRunBatchRequest({ ...BATCH, export: EXPORT, queue }, ctx));
    expect(why2).toMatch(why);
    expect(why2).not.toContain('hunter2');
  });

  it('refuse a queue that is not a string, and a queue batch without an export (workers write the files)', () => {
    expect(reason(checkRunBatchRequest({ ...BATCH, export: EXPORT, queue: 6379 }, ctx))).toBe('queue must be a redis:// URL, got number');
    expect(reason(checkRunBatchRequest({ ...BATCH, queue: 'redis://127.0.0.1:6379/0' }, ctx))).toMatch(/^queue: a queue batch is an export .* needs export settings$/);
  });

  it('refuse every export folder when the context knows none (no isExportDir)', () => {
    const bare: ValidationContext = { hasModel: ctx.hasModel, photoSize: ctx.photoSize };
    expect(reason(checkRunBatchRequest({ ...BATCH, export: EXPORT }, bare))).toMatch(/was not chosen/);
  });

  it('check the argument count of every operation of the channel table', () => {
    for (const method of Object.keys(INVOKES) as InvokeMethod[]) {
      const r = checkInvokeArgs(method, [1, 2], ctx);
      expect(reason(r)).toMatch(new RegExp(`^${INVOKES[method].channel} takes (no arguments|one argument), got 2$`));
    }
    expect(checkInvokeArgs('recent', [], ctx)).toEqual({ ok: true, value: [] });
    expect(checkInvokeArgs('cancel', ['job-1'], ctx)).toEqual({ ok: true, value: ['job-1'] });
    expect(checkInvokeArgs('pauseBatch', ['b1'], ctx)).toEqual({ ok: true, value: ['b1'] });
    expect(reason(checkInvokeArgs('resumeBatch', [{}], ctx))).toMatch(/batchId must be a string/);
    expect(checkInvokeArgs('openFoldersDialog', [false], ctx)).toEqual({ ok: true, value: [false] });
    expect(reason(checkInvokeArgs('openFoldersDialog', [], ctx))).toMatch(/takes one argument, got 0/);
    expect(checkInvokeArgs('chooseExportFolder', [], ctx)).toEqual({ ok: true, value: [] });
    expect(checkInvokeArgs('setPreprocess', [{ modelId: MODEL, preprocess: 'unit' }], ctx).ok).toBe(true);
    expect(reason(checkInvokeArgs('setPreprocess', [{ modelId: 'gone', preprocess: 'unit' }], ctx))).toMatch(/no loaded model/);
    expect(reason(checkInvokeArgs('toString' as 'recent', [], ctx))).toMatch(/unknown operation toString/);
    expect(reason(checkInvokeArgs('addPhotos', [['/etc/shadow']], ctx))).toMatch(/"\/etc\/shadow" was not chosen/);
  });
});

describe('sender checks', () => {
  it('trust only the app origin, and the dev server origin when one is in use', () => {
    expect(isAppUrl('convmap-app://renderer/index.html', origins)).toBe(true);
    expect(isAppUrl('convmap-app://other/index.html', origins)).toBe(false);
    expect(isAppUrl('file:///tmp/index.html', origins)).toBe(false);
    expect(isAppUrl('http://localhost:5173/', origins)).toBe(false);
    expect(isAppUrl('http://localhost:5173/', devOrigins)).toBe(true);
    expect(isAppUrl('http://localhost:5174/', devOrigins)).toBe(false);
    expect(isAppUrl('http://localhost:5173@evil.example/', devOrigins)).toBe(false);
    expect(isAppUrl('https://evil.example/?convmap-app://renderer', devOrigins)).toBe(false);
    expect(isAppUrl('not a url', devOrigins)).toBe(false);
  });

  it('refuse gone frames, foreign windows, subframes and foreign pages, each with its reason', () => {
    const page = 'convmap-app://renderer/index.html';
    expect(senderRefusal({ url: page, parent: null }, true, origins)).toBeUndefined();
    expect(senderRefusal(null, true, origins)).toMatch(/frame is gone/);
    expect(senderRefusal({ url: page, parent: null }, false, origins)).toMatch(/not one of the app's windows/);
    expect(senderRefusal({ url: page, parent: {} }, true, origins)).toMatch(/subframe/);
    expect(senderRefusal({ url: 'https://evil.example/', parent: null }, true, origins)).toMatch(/not the app's/);
  });
});
