import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // Compiles .vue single-file components for the renderer tests (test/renderer, happy-dom per file).
  plugins: [vue()],
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default'],
    // tfjs's cpu backend greets every test process that uses it without prod mode (the app turns it
    // off: main/engine/backend.ts quiet()); its advice to install tfjs-node is noise in test output.
    onConsoleLog: (log) => !log.includes('Hi, looks like you are running TensorFlow.js in Node.js'),
  },
});
