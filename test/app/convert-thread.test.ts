// The window's conversion worker chooses its tfjs backend as the CLI does (a worker thread would
// otherwise convert and check crops on tfjs's plain-JS backend: a Teachable Machine model took 37 s),
// and keeps its conversions in the model cache.
import { existsSync, promises as fs } from 'node:fs';
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

const corpusModel = path.resolve(__dirname, '../../../shared/corpus/models/teachablemachine_waste12_valber');
const hasCorpus = existsSync(corpusModel);
if (!hasCorpus) console.log(`skipping the cancelled conversion's temporary files: ${corpusModel} is absent`);

describe.skipIf(!hasCorpus)('a cancelled conversion', () => {
  /** Folders under `dir` that hold a file named `name`, at any depth. */
  async function holding(dir: string, name: string): Promise<string[]> {
    const entries = await fs.readdir(dir, { recursive: true }).catch(() => [] as string[]);
    return entries.filter((e) => path.basename(e) === name).map((e) => path.dirname(path.join(dir, e)));
  }

  it('leaves no temporary files: cancelled while its check\'s ONNX file is on disk, its temporary folder is removed', async () => {
    const root = path.join(tmp.path, 'tmpdir');
    await fs.mkdir(root);
    const before = process.env.TMPDIR;
    process.env.TMPDIR = root;
    try {
      const abort = new AbortController();
      const done = prepareModelInWorker({ target: corpusModel }, { signal: abort.signal }).then(() => 'finished', (e: Error) => e.name);
      let seen: string[] = [];
      while (seen.length === 0) {
        seen = await holding(root, 'model.onnx');
        if (seen.length === 0 && (await Promise.race([done, new Promise((r) => setTimeout(r, 5, 'running'))])) !== 'running') break;
      }
      abort.abort();
      expect(seen.length, 'the conversion ended before its check\'s ONNX file was seen').toBeGreaterThan(0);
      expect(await done).toBe('AbortError');
      // The folder goes once the worker has stopped (bounded wait; the assertion is on what is left).
      for (let i = 0; i < 200 && (await fs.readdir(root)).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(await fs.readdir(root)).toEqual([]);
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
    }
  }, 120_000);
});
