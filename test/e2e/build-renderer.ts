/** Builds renderer/ with vite (as electron-vite would) into a folder, for the browser tests. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import vue from '@vitejs/plugin-vue';
import { build } from 'vite';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export async function buildRenderer(outDir: string): Promise<void> {
  await build({
    configFile: false,
    root: path.join(ROOT, 'renderer'),
    base: './',
    logLevel: 'warn',
    plugins: [vue()],
    build: { outDir, emptyOutDir: true, sourcemap: true, minify: false, reportCompressedSize: false },
  });
}
