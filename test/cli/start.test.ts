/**
 * `npm start` where the Electron binary cannot be downloaded: one plain sentence, no stack trace and
 * no installer advice, then the command-line demo. Skipped where the binary is installed (it would
 * open the window).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = path.resolve(import.meta.dirname, '../..');
const pathFile = path.join(repo, 'node_modules/electron/path.txt');
const installed = existsSync(pathFile) && existsSync(path.join(repo, 'node_modules/electron/dist', readFileSync(pathFile, 'utf8')));
if (installed) console.log('skipping the no-Electron start test: the Electron binary is installed');

describe.skipIf(installed)('npm start without the Electron binary', () => {
  it('says so in one sentence and runs the demo', async () => {
    // A mirror nothing listens on: the download fails at once, as offline.
    const env = { ...process.env, ELECTRON_MIRROR: 'http://127.0.0.1:9/', ELECTRON_GET_USE_PROXY: '', CONVMAP_BACKEND: 'wasm' };
    const { stdout, stderr } = await run(process.execPath, [path.join(repo, 'bin/start.mjs')], { cwd: repo, env });
    expect(stderr).toContain('convmap: the desktop app could not start because the Electron binary could not be downloaded (no network?); here is the command-line demo instead.');
    expect(stderr).not.toMatch(/\n\s+at |install-electron|TypeError/);
    expect(stdout).toMatch(/detections {2}14 boxes/);
  });

  it('npm run start:app (electron-vite dev) says so in one sentence too, with no stack trace, and exits 1', async () => {
    const pkg = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const [cmd, ...args] = pkg.scripts['start:app'].split(' ');
    expect(cmd).toBe('node');
    const env = { ...process.env, ELECTRON_MIRROR: 'http://127.0.0.1:9/', ELECTRON_GET_USE_PROXY: '' };
    const r = await run(process.execPath, args, { cwd: repo, env }).then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('convmap: the desktop app could not start in development mode because the Electron binary could not be downloaded (no network?)');
    expect(r.stderr).not.toMatch(/\n\s+at |getElectronPath|Electron uninstall/);
  });
});
