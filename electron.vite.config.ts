/**
 * electron-vite builds three bundles into out/:
 * - out/main: the Electron main process (main/electron/main.ts) plus the worker entries the services
 *   start by file name next to their own module (main/engine/pool.ts → worker.js, main/engine/onnx-engine.ts → onnx-process.js (a child process),
 *   main/services/threads/convert-thread.ts → convert-worker.js, main/services/threads/picture-thread.ts → picture-worker.js, main/io/bmp-thread.ts → bmp-worker.js, main/io/decode-host.ts → decode-process.js (a child process)). Chunks are written flat into out/main, so
 *   `new URL('./worker.js', import.meta.url)` from any chunk finds them.
 * - out/preload: preload.cjs, CommonJS because sandboxed preloads cannot be ES modules.
 * - out/renderer: the Vue app (root renderer/).
 * Native and wasm packages stay external: they are loaded from node_modules (unpacked from the asar).
 * The page's <meta> CSP is main's header CSP (main/electron/csp.ts); under the dev server both are
 * the dev variant, which lets Vite inject its <style> tags.
 */
import { resolve } from 'node:path';
import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'electron-vite';
import type { Plugin } from 'vite';
import { contentSecurityPolicy } from './main/electron/csp';

const META_CSP = /(<meta\s+http-equiv="Content-Security-Policy"\s+content=")[^"]*(")/;

/** Under `electron-vite dev`, gives index.html the dev server's CSP (the built page keeps its own, checked equal to main's). */
export function devCspPlugin(): Plugin {
  return {
    name: 'convmap-dev-csp',
    apply: 'serve',
    transformIndexHtml: (html) => html.replace(META_CSP, (_m, open: string, close: string) => `${open}${contentSecurityPolicy(true)}${close}`),
  };
}

const external = ['sharp', /^@img\//, /^@tensorflow\//, 'h5wasm', 'tsx', /^tsx\//, /^onnxruntime-/];

export default defineConfig({
  main: {
    build: {
      outDir: 'out/main',
      externalizeDeps: true,
      rolldownOptions: {
        input: {
          main: resolve('main/electron/main.ts'),
          worker: resolve('main/engine/worker.ts'),
          'onnx-process': resolve('main/engine/onnx-process.ts'),
          'convert-worker': resolve('main/services/threads/convert-worker.ts'),
          'picture-worker': resolve('main/services/threads/picture-worker.ts'),
          'bmp-worker': resolve('main/io/bmp-worker.ts'),
          'decode-process': resolve('main/io/decode-process.ts'),
        },
        external,
        output: {
          format: 'es',
          entryFileNames: '[name].js',
          chunkFileNames: '[name]-[hash].js',
        },
      },
    },
  },
  preload: {
    build: {
      outDir: 'out/preload',
      externalizeDeps: true,
      rolldownOptions: {
        input: { preload: resolve('main/electron/preload.ts') },
        output: {
          format: 'cjs',
          entryFileNames: '[name].cjs',
          codeSplitting: false,
        },
      },
    },
  },
  renderer: {
    root: 'renderer',
    plugins: [vue(), devCspPlugin()],
    build: {
      outDir: 'out/renderer',
      rolldownOptions: {
        input: { index: resolve('renderer/index.html') },
      },
    },
  },
});
