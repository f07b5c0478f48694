// The built main bundle, run for real under Node with a stand-in for the electron module: catches
// what only bundling breaks (worker entries next to their chunks, ESM shims, externals).
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const stub = path.join(import.meta.dirname, 'electron-stub');

describe('the electron-vite build', () => {
  it('builds, and its main process converts the built-in model, computes the demo scene and serves it', async () => {
    execFileSync(process.execPath, [path.join(root, 'node_modules/electron-vite/bin/electron-vite.js'), 'build'], { cwd: root, stdio: 'pipe' });
    const userData = await mkdtemp(path.join(os.tmpdir(), 'convmap-bundle-'));
    const exportDir = path.join(userData, 'exports');
    await mkdir(exportDir);
    try {
      const out = execFileSync(process.execPath, ['--import', path.join(stub, 'register.mjs'), path.join(stub, 'drive-main.mjs')], {
        cwd: root,
        env: { ...process.env, STUB_USERDATA: userData, STUB_EXPORT_DIR: exportDir, CONVMAP_MAIN: path.join(root, 'out/main/main.js') },
        encoding: 'utf8',
        stdio: 'pipe',
        timeout: 120_000,
      });
      expect(out).toMatch(/^window convmap-app:\/\/renderer\/index\.html .*"sandbox":true/m);
      // ONNX Runtime and the photo decoder run in utility processes (child_process.fork would need ELECTRON_RUN_AS_NODE).
      expect(out).toMatch(/^backend \{"backend":"onnx","workers":\d+,"device":"cpu"/m);
      expect(out).toMatch(/^utility \["onnx-process\.js","Convmap ONNX Runtime"\]$/m);
      expect(out).toMatch(/^utility \["decode-process\.js","Convmap photo decoder"\]$/m);
      expect(out).toMatch(/^model Built-in digits \[ 28, 28 \] true$/m);
      expect(out).toMatch(/^demo convmap-photo:\/\/photo\/[0-9a-f-]{36} 640 480$/m);
      expect(out).toMatch(/^maps 114x154x11 54x74x11 progress events \d+$/m);
      expect(out).toMatch(/^photo 200 image\/png$/m);
      expect(out).toMatch(/^page 200 default-src 'none'; script-src 'self'/m);
      expect(out).toMatch(/^menu \[\{"command":"export-photo"\},\{"command":"shortcuts"\}\]$/m);
      expect(out).toMatch(/^refused: convmap:compute-scores refused: each scale must be a finite number/m);
      expect(out).toMatch(/^refused: convmap:add-photos refused: paths\[0\] "\/etc\/passwd" was not chosen by the user/m);
      expect(out).toMatch(/^refused: convmap:load-model refused: path "\/etc\/passwd" was not chosen by the user/m);
      // Show in folder opens the file manager on the PNG the export wrote, and on nothing the renderer names.
      const png = path.join(exportDir, 'digit-scene.heatmap.png');
      expect(out).toContain(`exported ${JSON.stringify([png])} shown ${JSON.stringify([png])}`);
      expect(out).toContain(`refused: convmap:show-in-folder refused: path "${png}.other" is neither one the user chose nor an export written in this session`);
      expect(out).toMatch(/^refused: convmap:show-in-folder refused: path "\/etc\/passwd" is neither one the user chose nor an export written in this session$/m);
      expect(out).toMatch(/^shown after refusals 1$/m);
      expect(out).toMatch(/^reload during load AbortError: /m);
      expect(out).toMatch(/^load stages after reload 0$/m);
      expect(out).toMatch(/^reload AbortError: /m);
      expect(out).toMatch(/^close AbortError: /m);
      expect(out).toMatch(/^after close: convmap:backend-info refused: the sender is not one of the app's windows$/m);
      expect(out).toMatch(/^quit true$/m);
    } finally {
      await rm(userData, { recursive: true, force: true });
    }
  });
});
