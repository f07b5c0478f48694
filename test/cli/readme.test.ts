/**
 * The README's command-line examples run as written, in order, on a fresh clone (corpus paths, the
 * demo's own output), write only into git-ignored folders, never into out/ (the app's build, packaged
 * by electron-builder), and never write a second copy of an output ("-2" names: two examples writing
 * the same photo into one folder).
 */
import { execFile } from 'node:child_process';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, '../..');
const hasCorpus = existsSync(path.resolve(repo, '../shared/corpus'));
if (!hasCorpus) console.log('skipping the README examples: ../shared/corpus is absent');

const readme = readFileSync(path.join(repo, 'README.md'), 'utf8');
const section = readme.slice(readme.indexOf('## Command line'));
const block = section.slice(section.indexOf('```sh') + 5, section.indexOf('```', section.indexOf('```sh') + 5));
/** The commands of the block, comments dropped. */
const commands = block.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter((l) => l.length > 0 && !l.startsWith('#'));
const OUTPUTS = ['convmap-models', 'heatmaps', 'convmap-demo'];
const existed = new Set(OUTPUTS.filter((d) => existsSync(path.join(repo, d))));

/**
 * The argv of bin/convmap.mjs a README command stands for: `node bin/convmap.mjs …` (what the README
 * uses), `npx convmap …` (package.json's bin) and `npm run demo` (its `demo` script); null for anything else.
 */
function convmapArgs(cmd: string): string[] | null {
  const words = cmd.split(/\s+/);
  if (words[0] === 'node' && (words[1] === 'bin/convmap.mjs' || words[1] === './bin/convmap.mjs')) return words.slice(2);
  if (words[0] === 'npx' && words[1] === 'convmap') return words.slice(2);
  return cmd === 'npm run demo' ? ['demo'] : null;
}

/** Outputs under the output folders written as a "-N" copy of another (heatmaps/x-2.heatmap.png beside heatmaps/x.heatmap.png). */
async function copies(): Promise<string[]> {
  const found: string[] = [];
  for (const d of OUTPUTS) {
    if (!existsSync(path.join(repo, d))) continue;
    const files = new Set(await fs.readdir(path.join(repo, d), { recursive: true }));
    for (const f of files) {
      const m = /^(.*)-\d+\.(heatmap\.png|scores\.json|scores\.npy)$/.exec(f);
      if (m && files.has(`${m[1]}.${m[2]}`)) found.push(path.join(d, f));
    }
  }
  return found.sort();
}

const cacheDir = path.join(repo, 'tmp', `readme-cache-${process.pid}`);

afterAll(async () => {
  for (const d of OUTPUTS) if (!existed.has(d)) await fs.rm(path.join(repo, d), { recursive: true, force: true });
  await fs.rm(cacheDir, { recursive: true, force: true });
});

describe.skipIf(!hasCorpus)('the README\'s command-line examples', () => {
  it('run as written, into git-ignored folders only', async () => {
    expect(commands.length).toBeGreaterThanOrEqual(5);
    const outBefore = existsSync(path.join(repo, 'out')) ? (await fs.readdir(path.join(repo, 'out'))).sort() : [];
    const copiesBefore = await copies();
    const env = { ...process.env, CONVMAP_BACKEND: 'wasm', CONVMAP_CACHE_DIR: cacheDir };
    for (const cmd of commands) {
      const args = convmapArgs(cmd);
      expect(args, cmd).not.toBeNull();
      const r = await run(process.execPath, [path.join(repo, 'bin/convmap.mjs'), ...(args as string[])], { cwd: repo, env, maxBuffer: 64 << 20 }).catch((e: { code: number; stderr: string }) => e);
      expect('code' in r ? `${cmd}: exit ${r.code}: ${r.stderr}` : 'ok').toBe('ok');
    }
    for (const d of OUTPUTS) {
      expect(existsSync(path.join(repo, d)), d).toBe(true);
      const { stdout } = await run('git', ['check-ignore', d], { cwd: repo });
      expect(stdout.trim()).toBe(d);
    }
    expect(await copies()).toEqual(copiesBefore);
    const outAfter = existsSync(path.join(repo, 'out')) ? (await fs.readdir(path.join(repo, 'out'))).sort() : [];
    expect(outAfter).toEqual(outBefore);
  });
});
