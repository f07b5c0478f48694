/**
 * The README's command-line examples run as written on a fresh clone (corpus paths, the demo's own
 * output), write only into git-ignored folders, and never into out/ (the app's build, packaged by
 * electron-builder).
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

afterAll(async () => {
  for (const d of OUTPUTS) if (!existed.has(d)) await fs.rm(path.join(repo, d), { recursive: true, force: true });
});

describe.skipIf(!hasCorpus)('the README\'s command-line examples', () => {
  it('run as written, into git-ignored folders only', async () => {
    expect(commands.length).toBeGreaterThanOrEqual(5);
    const outBefore = existsSync(path.join(repo, 'out')) ? (await fs.readdir(path.join(repo, 'out'))).sort() : [];
    const env = { ...process.env, CONVMAP_BACKEND: 'wasm', CONVMAP_CACHE_DIR: path.join(repo, 'tmp', `readme-cache-${process.pid}`) };
    for (const cmd of commands) {
      const words = cmd.split(/\s+/);
      // `npx convmap …` is bin/convmap.mjs; `npm run demo` is its `demo` command (package.json).
      const args = words[0] === 'npx' && words[1] === 'convmap' ? words.slice(2) : words.join(' ') === 'npm run demo' ? ['demo'] : null;
      expect(args, cmd).not.toBeNull();
      const r = await run(process.execPath, [path.join(repo, 'bin/convmap.mjs'), ...(args as string[])], { cwd: repo, env, maxBuffer: 64 << 20 }).catch((e: { code: number; stderr: string }) => e);
      expect('code' in r ? `${cmd}: exit ${r.code}: ${r.stderr}` : 'ok').toBe('ok');
    }
    for (const d of OUTPUTS) {
      expect(existsSync(path.join(repo, d)), d).toBe(true);
      const { stdout } = await run('git', ['check-ignore', d], { cwd: repo });
      expect(stdout.trim()).toBe(d);
    }
    const outAfter = existsSync(path.join(repo, 'out')) ? (await fs.readdir(path.join(repo, 'out'))).sort() : [];
    expect(outAfter).toEqual(outBefore);
    await fs.rm(env.CONVMAP_CACHE_DIR, { recursive: true, force: true });
  });
});
