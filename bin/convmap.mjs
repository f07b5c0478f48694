#!/usr/bin/env node
// The command line. Runs the JavaScript compiled into dist/ by `npm run build:cli` (run by `prepare`
// at npm install / npm ci) when it is newer than every source file; otherwise, while developing,
// the TypeScript sources through tsx (a dev dependency).
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Newest modification time (ms) of the .ts files under dir; main/electron is not part of the CLI. */
function newestSource(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'electron') newest = Math.max(newest, newestSource(full));
    } else if (e.name.endsWith('.ts')) {
      newest = Math.max(newest, statSync(full).mtimeMs);
    }
  }
  return newest;
}

function compiledIsCurrent() {
  if (process.env.CONVMAP_FROM_SOURCE) return false;
  const stamp = statSync(path.join(root, 'dist', '.stamp'), { throwIfNoEntry: false });
  if (!stamp) return false;
  try {
    return stamp.mtimeMs >= Math.max(newestSource(path.join(root, 'main')), newestSource(path.join(root, 'core')));
  } catch {
    return false;
  }
}

if (compiledIsCurrent()) {
  await import(pathToFileURL(path.join(root, 'dist', 'main', 'cli', 'index.js')).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../main/cli/index.ts');
}
