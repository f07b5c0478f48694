// `convmap convert` interrupted (Ctrl-C, kill) while its check's ONNX file is on disk leaves no
// temporary files behind: the process exits through its exit hook, which removes its own folder; a
// folder a SIGKILLed run left is removed by the next run.
import { spawnSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, startConvmap } from '../helpers/cli';
import { tempDir } from '../helpers/temp-dir';

const tmp = tempDir('convmap-convert-interrupt-');
const model = path.resolve(REPO, '../shared/corpus/models/teachablemachine_waste12_valber');
const hasCorpus = existsSync(model);
if (!hasCorpus) console.log(`skipping the interrupted convert: ${model} is absent`);

/** Files named `name` under `dir`, at any depth. */
async function filesNamed(dir: string, name: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true }).catch(() => [] as string[]);
  return entries.filter((e) => path.basename(e) === name);
}

describe.skipIf(!hasCorpus)('convmap convert interrupted', () => {
  it('a later run removes the folder a killed run left (its process gone), and not one of a running process', async () => {
    const root = path.join(tmp.path, 'stale');
    await fs.mkdir(root);
    // A process that has ended: its pid names the folder it "left".
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    for (const pid of [gone, String(process.pid)]) await fs.mkdir(path.join(root, `convmap-run-${pid}-left`, 'convmap-convert-x'), { recursive: true });
    const r = await startConvmap(['convert', path.join(REPO, 'main/digits/model')], { TMPDIR: root, CONVMAP_CACHE_DIR: path.join(tmp.path, 'cache-stale') }).result;
    expect(r.code, r.stderr).toBe(0);
    expect((await fs.readdir(root)).filter((f) => !f.startsWith('tsx-'))).toEqual([`convmap-run-${process.pid}-left`]);
  }, 120_000);

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`by ${signal} while the check's ONNX file is on disk: exits 128 + the signal's number and leaves nothing in the temporary folder`, async () => {
      const root = path.join(tmp.path, signal);
      await fs.mkdir(root);
      const { child, result } = startConvmap(['convert', model, '-o', path.join(root, '..', `out-${signal}`)], { TMPDIR: root, CONVMAP_CACHE_DIR: path.join(tmp.path, `cache-${signal}`) });
      let seen = 0;
      let ended = false;
      void result.then(() => (ended = true));
      while (seen === 0 && !ended) {
        seen = (await filesNamed(root, 'model.onnx')).length;
        if (seen === 0) await new Promise((r) => setTimeout(r, 5));
      }
      child.kill(signal);
      const r = await result;
      expect(seen, `the conversion ended before its check's ONNX file was seen: ${r.stderr}`).toBeGreaterThan(0);
      expect(r.code).toBe(128 + (signal === 'SIGINT' ? 2 : 15));
      // tsx's compile cache (the CLI runs from source here) is not the command's.
      expect((await fs.readdir(root)).filter((f) => !f.startsWith('tsx-'))).toEqual([]);
    }, 120_000);
  }
});
