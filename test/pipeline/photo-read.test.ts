/**
 * Photos are read through one function: once per open (then decoded, hashed, scored and served from
 * the bytes read), only when they are regular files, and with a size cap.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { makeRecipe } from '../../core/recipe';
import { createEngine, type Engine } from '../../main/engine/engine';
import { decodePhoto, readPhotoFile } from '../../main/io/decode';
import { createAppService, type AppService } from '../../main/services/window/app-service';
import { runBatch } from '../../main/services/batch';
import { prepareModel } from '../../main/services/models';
import { writeScene } from '../batch/fixtures';

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, '../..');

let tmp: string;
let photo: string;
let fifo: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-read-'));
  photo = path.join(tmp, 'scene.png');
  await writeScene(photo, 3, 200, 150);
  fifo = path.join(tmp, 'pipe.png');
  execFileSync('mkfifo', [fifo]);
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

/** Counts opens and whole-file reads of `file` through node:fs/promises (the only way main reads photos). */
function countReads(file: string): { count: () => number; restore: () => void } {
  const opens = vi.spyOn(fs, 'open');
  const reads = vi.spyOn(fs, 'readFile');
  const of = (spy: typeof opens | typeof reads) => spy.mock.calls.filter((c) => path.resolve(String(c[0])) === file).length;
  return { count: () => of(opens) + of(reads), restore: () => { opens.mockRestore(); reads.mockRestore(); } };
}

describe('the window reads a photo from disk once per open', () => {
  let service: AppService;
  beforeAll(async () => {
    service = await createAppService({ userDataDir: path.join(tmp, 'user'), engine: { backend: 'wasm', workers: 1 }, cacheDir: path.join(tmp, 'cache') });
  });
  afterAll(async () => {
    await service.close();
  });

  it('opens, serves, scores at two scale sets (cache written and read) and serves again after one read', async () => {
    const model = await service.loadModel({ path: null });
    const reads = countReads(photo);
    try {
      const added = await service.addPhotos([photo]);
      expect(added.failed).toEqual([]);
      const id = added.photos[0].id;
      expect(await service.photoBytes(id)).toBeDefined();
      const first = await service.computeScores({ jobId: 'j1', modelId: model.id, photoId: id, scales: [1] });
      const second = await service.computeScores({ jobId: 'j2', modelId: model.id, photoId: id, scales: [1, 0.75] });
      // The second call took scale 1 from the cache (same maps), computed only 0.75.
      expect(Array.from(second.maps[0].scores)).toEqual(Array.from(first.maps[0].scores));
      expect(await service.photoBytes(id)).toBeDefined();
      expect(reads.count()).toBe(1);
    } finally {
      reads.restore();
    }
  });

  it('refuses /dev/zero and a FIFO as photos at once, naming them', async () => {
    const res = await service.addPhotos(['/dev/zero', fifo]);
    expect(res.photos).toEqual([]);
    expect(res.failed.map((f) => f.reason)).toEqual([
      'zero: is a character device, not a regular file',
      'pipe.png: is a FIFO (named pipe), not a regular file',
    ]);
  });
});

describe('the batch and the decoder', () => {
  let engine: Engine;
  afterAll(async () => {
    await engine?.close();
  });

  it('the batch reads each photo once, and fails /dev/zero and a FIFO with their reasons while the others finish', async () => {
    const prepared = await prepareModel(undefined);
    engine = await createEngine({ backend: 'wasm', workers: 1 });
    const handle = await engine.loadModel(prepared.artifacts, prepared.info);
    const reads = countReads(photo);
    try {
      const s = await runBatch({
        engine, handle, info: prepared.info, photos: [photo, '/dev/zero', fifo], outDir: path.join(tmp, 'out'),
        options: { recipe: makeRecipe({ scales: [1], mode: 'max', classChoice: 'any', colormap: 'turbo', opacity: 0.65, threshold: 0.2, boxes: false, legend: false, detectThreshold: 0.5 }) },
      });
      expect(s.done).toBe(1);
      expect(s.failed).toEqual([
        { photo: '/dev/zero', reason: 'is a character device, not a regular file' },
        { photo: fifo, reason: 'is a FIFO (named pipe), not a regular file' },
      ]);
      expect(reads.count()).toBe(1);
    } finally {
      reads.restore();
    }
  });

  it('refuses a photo over the size cap before reading it, and keeps the pixel limit', async () => {
    const size = (await fs.stat(photo)).size;
    await expect(readPhotoFile(photo, { maxBytes: size - 1 })).rejects.toThrow(new RegExp(`^scene\\.png: is ${size} bytes.*over the photo limit of ${size - 1} bytes`));
    await expect(readPhotoFile(photo, { maxBytes: size })).resolves.toHaveLength(size);
    await expect(decodePhoto(photo, { maxPixels: 200 * 150 - 1 })).rejects.toThrow('scene.png: image is 200×150 (30000 pixels), over the limit of 29999 pixels');
  });

  it('the CLI refuses /dev/zero as a photo in one line and exits non-zero', async () => {
    const r = await run(process.execPath, [path.join(repo, 'bin/convmap.mjs'), 'heatmap', '--model', 'builtin', '/dev/zero', '--out', path.join(tmp, 'cli-out'), '--no-cache'], {
      cwd: repo, env: { ...process.env, CONVMAP_BACKEND: 'wasm' },
    }).then(() => ({ code: 0, stderr: '', stdout: '' }), (e: { code: number; stderr: string; stdout: string }) => e);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/\/dev\/zero: is a character device, not a regular file/);
  });
});
