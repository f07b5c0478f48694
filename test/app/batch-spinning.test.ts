// The window's batches let ONNX Runtime's idle threads sleep (issue 21 item 4), as the CLI's
// multi-photo runs do: the real app service on the real ONNX Runtime process, whose messages are
// recorded on their way (the process is started by forkOnnxHost, as the CLI starts it).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { makeRecipe } from '../../core/recipe';
import { makeDigitScene } from '../../main/digits/scene';
import { forkOnnxHost, type SpawnOnnxHost } from '../../main/engine/onnx-host';
import type { ToOnnxHost } from '../../main/engine/onnx-protocol';
import { createAppService, type AppService } from '../../main/services/window/app-service';
import { tempDir } from '../helpers/temp-dir';

const tmp = tempDir('convmap-batch-spinning-');
let service: AppService | undefined;
afterAll(async () => service?.close());

describe('window batches and ONNX Runtime\'s threads', () => {
  it('a batch of several photos runs its passes with spinning off and turns it back on after; a lone photo leaves it on', async () => {
    const sent: ToOnnxHost[] = [];
    const recording: SpawnOnnxHost = (file, execArgv, events) => {
      const host = forkOnnxHost(file, execArgv, events);
      return { post: (msg) => { sent.push(msg); host.post(msg); }, kill: () => host.kill() };
    };
    service = await createAppService({ userDataDir: path.join(tmp.path, 'user'), cacheDir: null, engine: { backend: 'onnx', workers: 2, spawnOnnxHost: recording } });
    const files: string[] = [];
    for (let i = 0; i < 3; i++) {
      const scene = makeDigitScene({ width: 160, height: 120, count: 2, sizes: [28], seed: 40 + i });
      files.push(path.join(tmp.path, `scene${i}.png`));
      await sharp(scene.rgb, { raw: { width: 160, height: 120, channels: 3 } }).png().toFile(files[i]);
    }
    const model = await service.loadModel({ path: null });
    const photos = (await service.addPhotos(files)).photos.map((p) => p.id);
    expect(photos).toHaveLength(3);
    const kinds = (from: number): string[] => sent.slice(from).filter((m) => m.type === 'open' || m.type === 'run').map((m) => (m.type === 'open' ? `open ${String(m.spinning)}` : 'run'));

    let from = sent.length;
    const many = await service.runBatch({ batchId: 'b1', modelId: model.id, photoIds: photos, recipe: makeRecipe({ scales: [1] }) });
    expect(many.done).toBe(3);
    const batch = kinds(from);
    expect(batch[0]).toBe('open false');
    expect(batch[batch.length - 1]).toBe('open true');
    expect(batch.slice(1, -1).length).toBeGreaterThanOrEqual(3);
    expect(batch.slice(1, -1).every((k) => k === 'run')).toBe(true);

    from = sent.length;
    const one = await service.runBatch({ batchId: 'b2', modelId: model.id, photoIds: [photos[0]], recipe: makeRecipe({ scales: [0.9] }) });
    expect(one.done).toBe(1);
    const lone = kinds(from);
    expect(lone.length).toBeGreaterThan(0);
    expect(lone.every((k) => k === 'run')).toBe(true);
    await fs.rm(path.join(tmp.path, 'user'), { recursive: true, force: true });
  }, 120_000);
});
