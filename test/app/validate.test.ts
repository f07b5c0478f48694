import { describe, expect, it } from 'vitest';
import { INVOKE_CHANNELS } from '../../core/api';
import {
  checkComputeScoresRequest, checkInvokeArgs, checkLoadModelRequest, checkPaths, isAppUrl, LIMITS, senderRefusal, type ValidationContext,
} from '../../main/electron/validate';

const MODEL = 'model-1';
const PHOTO = 'photo-1';
const ctx: ValidationContext = Object.freeze({
  hasModel: (id: string) => id === MODEL,
  photoSize: (id: string): [number, number] | undefined => (id === PHOTO ? [3000, 4000] : undefined),
});
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
    expect(checkLoadModelRequest({ path: null })).toEqual({ ok: true, value: { path: null } });
    expect(checkLoadModelRequest({ path: '/models/m/model.json', preprocess: 'signed' })).toEqual({ ok: true, value: { path: '/models/m/model.json', preprocess: 'signed' } });
    expect(checkLoadModelRequest({ path: 'C:\\models\\m.h5' }).ok).toBe(true);
  });

  it.each([
    [{ path: 'relative/model.json' }, /must be absolute/],
    [{ path: '' }, /1–32767 characters/],
    [{ path: '/m\u0000.json' }, /NUL/],
    [{ path: 42 }, /must be a string/],
    [{ path: '/m.json', preprocess: 'sepia' }, /preprocessing mode/],
    [{}, /missing field "path"/],
    [{ path: null, __proto__: { evil: true } }, /must be an object/],
    [undefined, /must be an object/],
  ])('refuse load-model request %j with a reason', (req, why) => {
    expect(reason(checkLoadModelRequest(req))).toMatch(why);
  });

  it('accept arrays of absolute paths and refuse anything else', () => {
    expect(checkPaths(['/a.jpg', '/b c/d.png'])).toEqual({ ok: true, value: ['/a.jpg', '/b c/d.png'] });
    expect(checkPaths([])).toEqual({ ok: true, value: [] });
    expect(reason(checkPaths('/a.jpg'))).toMatch(/array of strings/);
    expect(reason(checkPaths(['/a.jpg', 3]))).toMatch(/paths\[1\] must be a string/);
    expect(reason(checkPaths(['a.jpg']))).toMatch(/paths\[0\] must be absolute/);
    expect(reason(checkPaths(Array(LIMITS.paths + 1).fill('/a.jpg')))).toMatch(/at most/);
  });

  it('check the argument count of every channel', () => {
    for (const channel of INVOKE_CHANNELS) {
      const r = checkInvokeArgs(channel, [1, 2], ctx);
      expect(reason(r)).toMatch(/takes (no arguments|one argument)/);
    }
    expect(checkInvokeArgs('convmap:recent', [], ctx)).toEqual({ ok: true, value: [] });
    expect(checkInvokeArgs('convmap:cancel', ['job-1'], ctx)).toEqual({ ok: true, value: ['job-1'] });
    expect(checkInvokeArgs('convmap:set-preprocess', [{ modelId: MODEL, preprocess: 'unit' }], ctx).ok).toBe(true);
    expect(reason(checkInvokeArgs('convmap:set-preprocess', [{ modelId: 'gone', preprocess: 'unit' }], ctx))).toMatch(/no loaded model/);
    expect(reason(checkInvokeArgs('convmap:evil' as 'convmap:recent', [], ctx))).toMatch(/unknown channel/);
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
