// The window's conversion worker chooses its tfjs backend as the CLI does (a worker thread would
// otherwise convert and check crops on tfjs's plain-JS backend: a Teachable Machine model took 37 s),
// and keeps its conversions in the model cache.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../../main/engine/backend';
import { prepareModelInWorker } from '../../main/services/threads/convert-thread';
import { CONVERSIONS_DIR } from '../../main/io/model-cache';
import { tempDir } from '../helpers/temp-dir';

const tmp = tempDir('convmap-convert-thread-');

describe('the conversion worker', () => {
  it('converts on the backend the CLI picks with auto (the fastest that loads), and a second open takes the cached conversion', async () => {
    const cli = await selectBackend('auto');
    const cache = { dir: path.join(tmp.path, 'cache') };
    const first = await prepareModelInWorker({ cache });
    expect(first.backend).toBe(cli);
    expect(first.fromCache).toBeUndefined();
    expect(first.info.equivalence.exact).toBe(true);
    const [entry] = await fs.readdir(path.join(cache.dir, CONVERSIONS_DIR));
    expect(first.onnx?.file).toBe(path.join(cache.dir, CONVERSIONS_DIR, entry, 'model.onnx'));
    const stages: string[] = [];
    const second = await prepareModelInWorker({ cache }, { onStage: (s) => stages.push(s) });
    expect(second.fromCache).toBe(true);
    expect(stages).toEqual([]);
    expect(second.info).toEqual(first.info);
    expect(second.modelKey).toBe(first.modelKey);
  });
});
