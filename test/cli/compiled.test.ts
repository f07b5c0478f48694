/**
 * The command line as installed: `prepare` compiles it to JavaScript (scripts/build-cli.mjs) and
 * bin/convmap.mjs runs that, so a command starts without compiling TypeScript. Built here into a
 * folder of its own (inside the repository, where node_modules resolves) and run from there.
 */
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, '../..');
const out = path.join(repo, 'tmp', `dist-test-${process.pid}`);

beforeAll(async () => {
  await run(process.execPath, [path.join(repo, 'scripts/build-cli.mjs'), '--out', out], { cwd: repo });
});
afterAll(async () => {
  await fs.rm(out, { recursive: true, force: true });
});

async function listJs(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) found.push(...(await listJs(full)));
    else if (e.name.endsWith('.js')) found.push(full);
  }
  return found;
}

describe('the compiled command line', () => {
  it('has one .js per source file, the worker entries and the built-in model, and imports no .ts file', async () => {
    for (const f of ['main/cli/index.js', 'main/engine/worker.js', 'main/engine/onnx-process.js', 'main/engine/onnx-export-file.js', 'main/services/threads/convert-worker.js', 'main/services/threads/picture-worker.js', 'main/io/decode-process.js', 'core/defaults.js', 'main/digits/model/weights.bin']) {
      expect(existsSync(path.join(out, f)), f).toBe(true);
    }
    expect(existsSync(path.join(out, '.stamp'))).toBe(true);
    for (const f of await listJs(out)) {
      const text = await fs.readFile(f, 'utf8');
      // Relative imports point at compiled siblings.
      expect(text, f).not.toMatch(/from\s+["']\.\.?\/[^"']*(?<!\.js)["']/);
      expect(text, f).not.toMatch(/import\(\s*["']\.\.?\/[^"']*(?<!\.js)["']\s*\)/);
    }
  });

  it('runs --version and the built-in model on a photo without tsx', async () => {
    const env = { ...process.env, CONVMAP_BACKEND: 'wasm', CONVMAP_CACHE_DIR: path.join(out, 'cache') };
    const pkg = JSON.parse(await fs.readFile(path.join(repo, 'package.json'), 'utf8')) as { version: string };
    const v = await run(process.execPath, [path.join(out, 'main/cli/index.js'), '--version'], { cwd: repo, env });
    expect(v.stdout.trim()).toBe(pkg.version);
    const demo = await run(process.execPath, [path.join(out, 'main/cli/index.js'), 'demo', '--out', path.join(out, 'demo')], { cwd: repo, env });
    expect(demo.stdout).toMatch(/detections {2}14 boxes/);
    const h = await run(process.execPath, [path.join(out, 'main/cli/index.js'), 'heatmap', '--model', 'builtin', path.join(out, 'demo', 'digit-scene.png'), '--scales', '1', '--out', path.join(out, 'hm')], { cwd: repo, env });
    expect(h.stdout).toMatch(/^1 of 1 photos done in .* by model Built-in digits with wasm/m);
    // The photo was decoded in a child process started from the compiled decode-process.js; the default
    // engine, ONNX Runtime, runs in one started from the compiled onnx-process.js.
    const { CONVMAP_BACKEND: _wasm, ...defaultEnv } = env;
    const o = await run(process.execPath, [path.join(out, 'main/cli/index.js'), 'heatmap', '--model', 'builtin', path.join(out, 'demo', 'digit-scene.png'), '--scales', '1', '--out', path.join(out, 'hm-onnx')], { cwd: repo, env: defaultEnv });
    expect(o.stdout).toMatch(/^1 of 1 photos done in .* by model Built-in digits with onnx on cpu/m);
  });
});
