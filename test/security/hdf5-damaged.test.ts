import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useWasm } from '../helpers/models';
import { runCli, smallTfjsModel, writeSparseKerasModel } from './bad-inputs';

/**
 * A damaged HDF5 file is refused in one line: HDF5's own error trace (which its error handler
 * writes through C's tmpfile()) never reaches the user's terminal, and the line says why.
 */
let root = '';
beforeAll(async () => {
  await useWasm();
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-sec-h5-'));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

describe('a truncated Keras .h5 through the CLI', () => {
  it('is one line on stderr naming the file and saying it is truncated, exit 1, no HDF5 trace', async () => {
    const whole = path.join(root, 'whole.h5');
    await writeSparseKerasModel(whole, await smallTfjsModel(), 'legacy', 4);
    const bytes = await fs.readFile(whole);
    const file = path.join(root, 'cut.h5');
    await fs.writeFile(file, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const run = await runCli(['convert', file], { timeoutS: 120, timeFile: path.join(root, 'time.txt'), env: { TMPDIR: root } });
    expect(run.code).toBe(1);
    const lines = run.stderr.split('\n').filter((l) => l.trim() !== '');
    expect(lines).toEqual([expect.stringMatching(new RegExp(`^convmap: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*truncated`))]);
    expect(run.stderr).not.toMatch(/HDF5-DIAG|null function/);
    // The handler's temporary files are gone with it.
    expect((await fs.readdir(root)).filter((f) => f.startsWith('tmpfile_'))).toEqual([]);
  });
});
