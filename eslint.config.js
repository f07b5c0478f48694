// Layering after VS Code's code-layering lint: each top-level folder lists what it may import (an
// allow-list, so a new dependency is a decision, not an accident), only the Electron glue imports
// electron, and main/ outside the CLI never blocks on the disk (see ../shared/DESIGN.md, "Layers
// of the code"). The rules live in lint/plugin.js and are tested in test/lint/rules.test.ts.
import tseslint from 'typescript-eslint';
import pluginVue from 'eslint-plugin-vue';
import local from './lint/plugin.js';

/** What each layer may import: files under the listed folders, and the listed packages. */
export const LAYERS = {
  // d3-scale-chromatic: pure functions (the colormaps' source), no Node, DOM or Electron.
  core: { layer: 'core/', files: ['core/**'], packages: ['d3-scale-chromatic'] },
  renderer: { layer: 'renderer/', files: ['core/**', 'renderer/**'], packages: ['vue', 'pinia'] },
  // Sandboxed: only electron and what the bundler inlines from core/.
  preload: { layer: 'the preload', files: ['core/**'], packages: ['electron'] },
  main: { layer: 'main/', files: ['core/**', 'main/**'], packages: ['*'] },
};

/**
 * main/'s floors, bottom first: a file imports its own floor and those below (and core/), never one
 * above, so each floor can be read, tested and reused without what stands on it. A new folder of
 * main/ is refused until it is given a floor here. See docs/architecture.md, "Floors of main/".
 */
export const MAIN_FLOORS = [
  // The disk (bounded reads, atomic writes, the output folder, the model cache), photo decoding,
  // starting worker threads, cancellation, and ONNX Runtime's binding: nothing about models or heatmaps.
  ['io', 'ort'],
  // Reading a classifier: Keras (.h5, .keras), tfjs, and ONNX files rebuilt as tfjs layers.
  ['model'],
  // Classifier → fully convolutional model, and that model → ONNX.
  ['convert', 'onnx'],
  // Running a model over photos (tfjs workers, ONNX Runtime); the built-in digits' data.
  ['engine', 'digits'],
  // What a run does: preparing models, batches, exports, caches, the window's session.
  ['services'],
  // The shared job queue that CLI workers serve.
  ['queue'],
  // The two front ends.
  ['cli', 'electron'],
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'out/**', 'dist/**', 'release/**'] },
  ...tseslint.configs.recommended,
  ...pluginVue.configs['flat/essential'],
  { files: ['**/*.vue'], languageOptions: { parserOptions: { parser: tseslint.parser } } },
  {
    plugins: { local },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  { files: ['core/**/*.ts'], rules: { 'local/layering': ['error', LAYERS.core] } },
  { files: ['renderer/**/*.ts', 'renderer/**/*.vue'], rules: { 'local/layering': ['error', LAYERS.renderer] } },
  { files: ['main/**/*.ts'], ignores: ['main/electron/preload.ts'], rules: { 'local/layering': ['error', LAYERS.main] } },
  { files: ['main/electron/preload.ts'], rules: { 'local/layering': ['error', LAYERS.preload] } },
  { files: ['main/**/*.ts'], rules: { 'local/floors': ['error', { base: 'main/', floors: MAIN_FLOORS }] } },
  {
    files: ['core/**/*.ts', 'renderer/**/*.ts', 'renderer/**/*.vue', 'main/**/*.ts', 'scripts/**/*.ts'],
    ignores: ['main/electron/**'],
    rules: { 'local/electron-only-in-glue': 'error' },
  },
  { files: ['main/**/*.ts'], ignores: ['main/cli/**'], rules: { 'local/no-sync-fs': 'error' } },
  {
    // Node's recursive mkdir never returns on paths such as /proc/self/x (issue 19): folders are made by one helper.
    files: ['main/**/*.ts'],
    ignores: ['main/io/atomic.ts'],
    rules: {
      'no-restricted-syntax': ['error', {
        selector: "CallExpression[callee.property.name=/^mkdir(Sync)?$/] Property[key.name='recursive']",
        message: 'make folders with makeDirs or checkOutputFolder (main/io/atomic.ts): a recursive mkdir loops forever on /proc/self/x.',
      }],
    },
  },
);
