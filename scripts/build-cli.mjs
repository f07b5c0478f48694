#!/usr/bin/env node
// Compiles the command line (main/ without the Electron glue, and core/) to JavaScript in dist/, one
// .js per .ts with the folder layout kept, so `new URL('./worker.js', import.meta.url)` and the
// built-in model's relative path work as they do from source. Runs in `prepare` (npm install / npm ci)
// and writes dist/.stamp last: bin/convmap.mjs runs dist/ only when the stamp is newer than every
// source file, and TypeScript through tsx otherwise (while developing).
import { build } from 'esbuild';
import { cpSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// `--out DIR` (inside the repository, so that node_modules resolves) builds elsewhere, for tests.
const outArg = process.argv.indexOf('--out');
const out = outArg > 0 ? path.resolve(process.argv[outArg + 1]) : path.join(root, 'dist');
const SKIP = new Set([path.join(root, 'main', 'electron')]);

/** Every .ts file under dir (recursively), except the Electron glue. */
function sources(dir) {
  const files = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIP.has(full)) files.push(...sources(full));
    } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
      files.push(full);
    }
  }
  return files;
}

/** Relative imports stay imports of the sibling compiled file; packages stay imports from node_modules. */
const keepImports = {
  name: 'keep-imports',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (args.kind === 'entry-point') return undefined;
      const target = path.resolve(args.resolveDir, args.path);
      const ts = statSync(`${target}.ts`, { throwIfNoEntry: false });
      if (ts?.isFile()) return { path: `${args.path}.js`, external: true };
      const index = statSync(path.join(target, 'index.ts'), { throwIfNoEntry: false });
      if (index?.isFile()) return { path: `${args.path}/index.js`, external: true };
      return { path: args.path, external: true };
    });
  },
};

const started = Date.now();
rmSync(out, { recursive: true, force: true });
const entryPoints = [...sources(path.join(root, 'main')), ...sources(path.join(root, 'core'))];
await build({
  entryPoints,
  outdir: out,
  outbase: root,
  bundle: true,
  packages: 'external',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: false,
  logLevel: 'warning',
  plugins: [keepImports],
});
// Data read next to the code: the built-in digit model.
mkdirSync(path.join(out, 'main', 'digits', 'model'), { recursive: true });
cpSync(path.join(root, 'main', 'digits', 'model'), path.join(out, 'main', 'digits', 'model'), { recursive: true });
writeFileSync(path.join(out, '.stamp'), `${new Date().toISOString()}\n`);
console.log(`convmap: compiled ${entryPoints.length} files to ${path.relative(root, out) || '.'}/ in ${Date.now() - started} ms`);
