// The layering and no-sync-fs lint rules (lint/plugin.js, wired in eslint.config.js), run through
// ESLint's API on snippets that break each rule (as VS Code tests its lint rules): each must fail
// with its message, and the allowed imports must pass.
import path from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const eslint = new ESLint({ cwd: root });

/** The local rules' messages for `code` linted as the file `file` (repository-relative; it need not exist). */
async function problems(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(root, file) });
  return result.messages.filter((m) => m.ruleId?.startsWith('local/') || m.fatal).map((m) => `${m.ruleId ?? 'fatal'}: ${m.message}`);
}

describe('layering: core/ imports only core/ (and the pure d3-scale-chromatic)', () => {
  it.each([
    ["import fs from 'node:fs';", 'local/layering: core/ may import only the packages d3-scale-chromatic; "node:fs" is not one of them.'],
    ["import * as tf from '@tensorflow/tfjs';", 'local/layering: core/ may import only the packages d3-scale-chromatic; "@tensorflow/tfjs" is not one of them.'],
    ["import { createEngine } from '../main/engine/engine';", 'local/layering: core/ may import only from core/**; "../main/engine/engine" is main/engine/engine.'],
    ["import type { App } from 'vue';", 'local/layering: core/ may import only the packages d3-scale-chromatic; "vue" is not one of them.'],
    ["export * from '../renderer/api';", 'local/layering: core/ may import only from core/**; "../renderer/api" is renderer/api.'],
    ["export async function f(name: string) { return import(name); }", "local/layering: core/: an import or require of a computed specifier cannot be checked against the layer's allow-list."],
    ["export type T = import('../main/services/window/app-service').AppService;", 'local/layering: core/ may import only from core/**; "../main/services/window/app-service" is main/services/window/app-service.'],
  ])('refuses %s', async (code, message) => {
    expect(await problems('core/snippet.ts', code)).toEqual([message]);
  });

  it('accepts core/ files and d3-scale-chromatic', async () => {
    expect(await problems('core/snippet.ts', "import { averageScoreMaps } from './average';\nimport { interpolateTurbo } from 'd3-scale-chromatic';\nexport const x = [averageScoreMaps, interpolateTurbo];\n")).toEqual([]);
  });
});

describe('layering: renderer/ imports only core/, Vue, Pinia and its own files', () => {
  it.each([
    ["import { readFile } from 'node:fs/promises';", ['local/layering: renderer/ may import only the packages vue, pinia; "node:fs/promises" is not one of them.']],
    ["import type { AppService } from '../../main/services/window/app-service';", ['local/layering: renderer/ may import only from core/**, renderer/**; "../../main/services/window/app-service" is main/services/window/app-service.']],
    // Relative imports are resolved: this one stays inside renderer/ by its name only.
    ["import { x } from '../stores/../../test/helpers/x';", ['local/layering: renderer/ may import only from core/**, renderer/**; "../stores/../../test/helpers/x" is test/helpers/x.']],
    ["import sharp from 'sharp';", ['local/layering: renderer/ may import only the packages vue, pinia; "sharp" is not one of them.']],
    ["import { ipcRenderer } from 'electron';", [
      'local/layering: renderer/ may import only the packages vue, pinia; "electron" is not one of them.',
      'local/electron-only-in-glue: "electron": only the Electron glue in main/electron/ imports electron; services stay Electron-free.',
    ]],
  ])('refuses %s', async (code, messages) => {
    expect(await problems('renderer/stores/snippet.ts', code)).toEqual(messages);
  });

  it('checks single-file components too', async () => {
    expect(await problems('renderer/components/Snippet.vue', "<script setup lang=\"ts\">\nimport os from 'node:os';\nconsole.log(os);\n</script>\n<template><div /></template>\n"))
      .toEqual(['local/layering: renderer/ may import only the packages vue, pinia; "node:os" is not one of them.']);
  });

  it('accepts Vue, Pinia, core/ and its own files', async () => {
    const code = "import { ref } from 'vue';\nimport { defineStore } from 'pinia';\nimport type { ConvmapApi } from '../../core/api';\nimport { useApi } from '../api';\nexport const s = [ref, defineStore, useApi] as unknown as ConvmapApi;\n";
    expect(await problems('renderer/stores/snippet.ts', code)).toEqual([]);
  });
});

describe('only main/electron/ imports electron', () => {
  const message = (s: string) => `local/electron-only-in-glue: "${s}": only the Electron glue in main/electron/ imports electron; services stay Electron-free.`;

  it.each([
    ["import { app } from 'electron';", 'electron'],
    ["import { app } from 'electron/main';", 'electron/main'],
    ["export async function f() { return (await import('electron')).dialog; }", 'electron'],
    ["export type W = import('electron').BrowserWindow;", 'electron'],
    ["import type { WebContents } from 'electron';", 'electron'],
  ])('refuses %s in main/services/', async (code, specifier) => {
    expect(await problems('main/services/snippet.ts', code)).toEqual([message(specifier)]);
  });

  it('refuses require() of electron in scripts/', async () => {
    expect(await problems('scripts/snippet.ts', "import { createRequire } from 'node:module';\nexport const e = createRequire(import.meta.url);\nexport const x = require('electron');\n")).toEqual([message('electron')]);
  });

  it('accepts electron in main/electron/', async () => {
    expect(await problems('main/electron/snippet.ts', "import { app } from 'electron';\nimport { dialog } from 'electron/main';\nexport const x = [app, dialog];\n")).toEqual([]);
  });

  it('keeps the sandboxed preload to electron and core/', async () => {
    expect(await problems('main/electron/preload.ts', "import path from 'node:path';\nimport { contextBridge } from 'electron';\nimport { INVOKES } from '../../core/api';\nexport const x = [path, contextBridge, INVOKES];\n"))
      .toEqual(['local/layering: the preload may import only the packages electron; "node:path" is not one of them.']);
  });

  it('keeps main/ off the renderer and the tests', async () => {
    expect(await problems('main/services/snippet.ts', "import { useApi } from '../../renderer/api';\nexport const x = useApi;\n"))
      .toEqual(['local/layering: main/ may import only from core/**, main/**; "../../renderer/api" is renderer/api.']);
  });
});

describe('no synchronous file system in main/ outside the CLI', () => {
  const message = (name: string) => `local/no-sync-fs: ${name} blocks the thread: use node:fs/promises (main/ outside the CLI never waits on the disk synchronously).`;

  it.each([
    ["import { readFileSync } from 'node:fs';\nexport const x = readFileSync;", 'readFileSync'],
    ["import fs from 'fs';\nexport const x = fs.statSync('/');", 'fs.statSync'],
    ["import * as fs from 'node:fs';\nexport const x = fs['existsSync']('/');", 'fs.existsSync'],
    ["import { createRequire } from 'node:module';\nconst require = createRequire(import.meta.url);\nconst { writeFileSync } = require('fs');\nexport const x = writeFileSync;", 'writeFileSync'],
  ])('refuses %s in main/services/', async (code, name) => {
    expect(await problems('main/services/snippet.ts', code)).toEqual([message(name)]);
  });

  it('refuses it in the Electron glue and the engine too', async () => {
    expect(await problems('main/electron/snippet.ts', "import { statSync } from 'node:fs';\nexport const x = statSync;\n")).toEqual([message('statSync')]);
    expect(await problems('main/engine/snippet.ts', "import { readdirSync } from 'node:fs';\nexport const x = readdirSync;\n")).toEqual([message('readdirSync')]);
  });

  it('accepts fs/promises and callbacks in main/, and sync calls in the CLI', async () => {
    expect(await problems('main/services/snippet.ts', "import { promises as fs, createReadStream } from 'node:fs';\nimport { readFile } from 'node:fs/promises';\nexport const x = [fs.readFile, createReadStream, readFile];\n")).toEqual([]);
    expect(await problems('main/cli/snippet.ts', "import { readFileSync } from 'node:fs';\nexport const x = readFileSync;\n")).toEqual([]);
  });
});

describe('floors of main/: a folder imports its own floor and those below, never one above', () => {
  const order = 'io+ort < model < convert+onnx < engine+digits < services < queue < cli+electron';
  const up = (file: string, specifier: string, from: string, to: string) =>
    `local/floors: ${file} is on the floor ${from}, "${specifier}" on the floor ${to} above it: main/ floors import only down (${order}).`;

  it.each([
    ['main/convert/snippet.ts', "import { makeThing } from '../services/export';\nexport const x = makeThing;\n", '../services/export', 'convert+onnx', 'services'],
    ['main/io/snippet.ts', "import type { ModelError } from '../model/errors';\nexport type E = ModelError;\n", '../model/errors', 'io+ort', 'model'],
    ['main/model/snippet.ts', "export async function f() { return import('../onnx/export'); }\n", '../onnx/export', 'model', 'convert+onnx'],
    ['main/engine/snippet.ts', "export type J = import('../queue/job').Job;\n", '../queue/job', 'engine+digits', 'queue'],
    ['main/services/snippet.ts', "export { runCli } from '../cli/index';\n", '../cli/index', 'services', 'cli+electron'],
  ])('refuses %s importing a floor above', async (file, code, specifier, from, to) => {
    expect(await problems(file, code)).toEqual([up(file, specifier, from, to)]);
  });

  it('resolves the path: a detour through a lower folder still lands on the floor above', async () => {
    expect(await problems('main/io/snippet.ts', "import { x } from '../io/../engine/pool';\nexport const y = x;\n"))
      .toEqual([up('main/io/snippet.ts', '../io/../engine/pool', 'io+ort', 'engine+digits')]);
  });

  it('accepts its own floor, the floors below and core/', async () => {
    expect(await problems('main/convert/snippet.ts', "import { exportOnnx } from '../onnx/export';\nimport { ModelError } from '../model/errors';\nimport { makeDirs } from '../io/atomic';\nimport { createSession } from '../ort/runtime';\nimport { cellCount } from '../../core/scoremap';\nexport const x = [exportOnnx, ModelError, makeDirs, createSession, cellCount];\n")).toEqual([]);
    expect(await problems('main/electron/snippet.ts', "import { runCli } from '../cli/index';\nimport { prepareModel } from '../services/models';\nexport const x = [runCli, prepareModel];\n")).toEqual([]);
  });

  it('refuses a folder of main/ that is on no floor, and imports of one', async () => {
    expect(await problems('main/plugins/snippet.ts', "import { makeDirs } from '../io/atomic';\nexport const x = makeDirs;\n"))
      .toEqual(['local/floors: main/plugins is on no floor of main/: give it one in eslint.config.js (MAIN_FLOORS).']);
    expect(await problems('main/services/snippet.ts', "import { x } from '../plugins/x';\nexport const y = x;\n"))
      .toEqual(['local/floors: main/plugins is on no floor of main/: give it one in eslint.config.js (MAIN_FLOORS).']);
  });
});
