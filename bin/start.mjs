#!/usr/bin/env node
// `npm start`: builds and launches the desktop app. Electron fetches its binary on first use; where
// that download is impossible (no network, blocked host), say so and run the command-line demo.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit' }).status ?? 1;

/** The Electron binary's path, downloading it quietly first when missing; null when that is impossible. */
function electronBinary() {
  const pkg = path.dirname(require.resolve('electron/package.json'));
  const pathFile = path.join(pkg, 'path.txt');
  const present = () => existsSync(pathFile) && existsSync(path.join(pkg, 'dist', readFileSync(pathFile, 'utf8')));
  if (!present() && !process.env.ELECTRON_OVERRIDE_DIST_PATH) {
    console.error('convmap: fetching the Electron binary (first start)…');
    // Its installer prints stack traces and advice that do not apply here: keep its output to itself.
    const r = spawnSync(process.execPath, [path.join(pkg, 'install.js')], { cwd: root, stdio: 'pipe', timeout: 300_000 });
    if (r.status !== 0 || !present()) return null;
  }
  try {
    return require('electron');
  } catch {
    return null;
  }
}

const electron = electronBinary();
if (electron === null) {
  console.error('convmap: the desktop app could not start because the Electron binary could not be downloaded (no network?); here is the command-line demo instead.');
}
if (typeof electron === 'string') {
  const built = run(process.execPath, [path.join(root, 'node_modules/electron-vite/bin/electron-vite.js'), 'build']);
  if (built !== 0) process.exit(built);
  process.exit(run(electron, [root, ...process.argv.slice(2)]));
}
process.exit(run(process.execPath, [path.join(root, 'bin/convmap.mjs'), 'demo']));
