#!/usr/bin/env node
// `npm start`: builds and launches the desktop app. Electron fetches its binary on first use; where
// that download is impossible (no network, blocked host), say so and run the command-line demo.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit' }).status ?? 1;

let electron;
try {
  electron = require('electron'); // the path of the binary; downloads it when missing
} catch (e) {
  console.error(`convmap: the Electron binary is not available (${String(e.message).split('\n')[0]}).`);
}
if (typeof electron === 'string') {
  const built = run(process.execPath, [path.join(root, 'node_modules/electron-vite/bin/electron-vite.js'), 'build']);
  if (built !== 0) process.exit(built);
  process.exit(run(electron, [root, ...process.argv.slice(2)]));
}
console.error('convmap: running the command-line demo instead (npx convmap --help for all commands).\n');
process.exit(run(process.execPath, [path.join(root, 'bin/convmap.mjs'), 'demo']));
