// Layering rules in the spirit of VS Code's code-layering lint: each top-level folder may import
// only what its runtime has (see ../shared/DESIGN.md, "Layers of the code").
import tseslint from 'typescript-eslint';
import pluginVue from 'eslint-plugin-vue';

const nodeBuiltins = ['node:*', 'fs', 'fs/*', 'path', 'os', 'url', 'worker_threads', 'child_process', 'crypto', 'stream', 'util', 'events', 'http', 'https', 'module', 'zlib'];
const native = ['electron', 'sharp', '@tensorflow/*', 'vue', 'pinia'];

export default tseslint.config(
  { ignores: ['node_modules/**', 'out/**', 'dist/**', 'release/**'] },
  ...tseslint.configs.recommended,
  ...pluginVue.configs['flat/essential'],
  { files: ['**/*.vue'], languageOptions: { parserOptions: { parser: tseslint.parser } } },
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: [...nodeBuiltins, ...native], message: 'core/ is pure TypeScript shared by both processes: no Node, DOM, Electron, Vue or tfjs.' },
          { group: ['../*', '!./*'], message: 'core/ imports nothing outside core/.' },
        ],
      }],
    },
  },
  {
    files: ['renderer/**/*.ts', 'renderer/**/*.vue'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: [...nodeBuiltins, 'electron', 'sharp', '@tensorflow/*'], message: 'The renderer reaches Node and Electron only through the preload API.' },
          { group: ['../main/*', '../../main/*', '../../../main/*'], message: 'The renderer never imports main/.' },
        ],
      }],
    },
  },
  {
    files: ['main/**/*.ts'],
    ignores: ['main/electron/**'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'electron', message: 'Only the Electron glue in main/electron/ imports electron; services stay Electron-free.' }],
      }],
    },
  },
);
