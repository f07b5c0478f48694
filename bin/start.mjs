#!/usr/bin/env node
// `npm start`: builds and launches the desktop app (`--dev`: electron-vite dev, for `npm run start:app`). Electron fetches its binary on first use; where
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

// `npm run start:app` (--dev): electron-vite's dev server with hot reload, same Electron check.
const dev = process.argv[2] === '--dev';
const args = process.argv.slice(dev ? 3 : 2);
const electron = electronBinary();
if (electron === null && dev) {
  console.error('convmap: the desktop app could not start in development mode because the Electron binary could not be downloaded (no network?); `npm run demo` runs the command-line demo.');
  process.exit(1);
}
if (electron === null) {
  console.error('convmap: the desktop app could not start because the Electron binary could not be downloaded (no network?); here is the command-line demo instead.');
}
const electronVite = path.join(root, 'node_modules/electron-vite/bin/electron-vite.js');
if (typeof electron === 'string' && dev) process.exit(run(process.execPath, [electronVite, 'dev', ...args]));
if (typeof electron === 'string') {
  const built = run(process.execPath, [electronVite, 'build']);
  if (built !== 0) process.exit(built);
  process.exit(run(electron, [root, ...args]));
}
process.exit(run(process.execPath, [path.join(root, 'bin/convmap.mjs'), 'demo']));
