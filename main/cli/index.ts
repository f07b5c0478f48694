import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { PreprocessMode } from '../../core/model-info';
import { errorMessage } from '../../core/errors';
import { STRIDE_LIMITS } from '../../core/recipe';
import { parseInteger, PREPROCESS_HELP, preprocessOption } from './options';
import { BACKEND_REQUESTS, isBackendRequest, selectBackend, type BackendRequest } from '../engine/backend';
import { printable, printableJson } from '../../core/printable';
import { approximationWarning, formatReport, preprocessWarning } from './report';
import { registerHeatmapCommand } from './heatmap';
import { registerQueueCommands } from './queue';
import { ownTempDir } from './temp';

/** The recipe's one stride bound (core/recipe STRIDE_LIMITS), as `heatmap --stride` checks it. */
function strideOption(v: string): number {
  try {
    return parseInteger('stride', v, STRIDE_LIMITS.min, STRIDE_LIMITS.max);
  } catch (err) {
    throw new InvalidArgumentError(`${errorMessage(err)} (a divisor of the network's stride)`);
  }
}

function windowOption(v: string): number {
  const x = Number(v);
  if (!Number.isInteger(x) || x < 8 || x > 4096) throw new InvalidArgumentError('expected the size in pixels the model was trained at, a whole number in [8, 4096]');
  return x;
}

function backendOption(v: string): BackendRequest {
  if (!isBackendRequest(v)) throw new InvalidArgumentError(`expected one of ${BACKEND_REQUESTS.join(', ')}`);
  return v;
}

/**
 * A message as one printable line: control characters become visible escapes (ESC → `\x1b`, see
 * core/printable), undecodable bytes '?', runs of them one '?', and the line is cut at
 * {@link MAX_LINE} characters.
 */
export function printableLine(msg: string): string {
  // Names in messages come from strangers' files: control characters are shown escaped (core/printable).
  const line = printable((msg.split('\n')[0] ?? '').replace(/\ufffd+/g, '?'));
  return line.length > MAX_LINE ? `${line.slice(0, MAX_LINE - 1)}…` : line;
}

/**
 * Longest refusal line: room for a long path and Convmap's whole advice (a graph model's is 290
 * characters); the cut only bounds text a stranger's file made huge.
 */
export const MAX_LINE = 2000;

/**
 * Prints a refusal as one line on stderr and sets a non-zero exit code; with `json`, also one JSON
 * object on stdout, `{ ok: false, file, error }` (file: the model or photo the refusal names, else
 * the command's input), as the `--json` outputs say each outcome in one object.
 */
function fail(err: unknown, json?: { file: string }): void {
  const msg = err instanceof Error ? err.message : String(err);
  const line = printableLine(msg);
  process.stderr.write(`convmap: ${line}\n`);
  if (json) {
    const named = typeof err === 'object' && err !== null && 'file' in err && typeof err.file === 'string' ? err.file : undefined;
    const file = named ?? json.file;
    process.stdout.write(printableJson({ ok: false, file, error: line }) + '\n');
  }
  if (process.env.CONVMAP_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  process.exitCode = 1;
}

/**
 * A failure nobody foresaw names the model too: running out of memory or stack inside tfjs, ONNX
 * Runtime or h5wasm ("memory access out of bounds", "Invalid typed array length", "Maximum call
 * stack size exceeded") would otherwise print without the file it was converting.
 */
function namingModel(e: unknown, model: string): unknown {
  // WebAssembly.RuntimeError is told by its name (no WebAssembly value in the TypeScript libs here).
  if (!(e instanceof RangeError || (e instanceof Error && e.name === 'RuntimeError')) || e.message.includes(model)) return e;
  return new Error(`${model}: could not be converted: ${e.message.split('\n')[0]}`);
}

/** The package version, from the nearest package.json named convmap above this file (source or dist/). */
function packageVersion(): string {
  for (let up = '../../'; up.length <= 12; up += '../') {
    try {
      const pkg = JSON.parse(readFileSync(new URL(`${up}package.json`, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'convmap') return pkg.version ?? 'unknown';
    } catch {
      // not here; one folder up
    }
  }
  return 'unknown';
}

const program = new Command()
  .name('convmap')
  .description('Turn an image classifier into a dense detector: class heatmaps over whole photos at several scales.')
  .version(packageVersion(), '-V, --version', 'print the version')
  // A mistyped flag gets commander's "Did you mean …?" and this one line, not the whole help.
  .showHelpAfterError('(add --help for usage)');

// The commands that convert a model (heatmap converts a model folder it has not seen) keep their temporary files
// in a folder of their own, removed however the process ends.
program.hook('preAction', async (_program, action) => {
  if (action.name() === 'convert' || action.name() === 'heatmap') await ownTempDir();
});

program
  .command('convert')
  .description('rewrite a classifier\'s fully-connected head as convolutions, verify it against crops, and report')
  .argument('<model>', 'a tfjs Layers model (model.json or its folder), a Keras .h5 (Keras 2 or 3 legacy) or a Keras 3 .keras file')
  .option('-o, --out <dir>', 'save the fully convolutional model (model.json + weights.bin + model.onnx + convmap.json) here')
  .option('--json', 'print one JSON object instead of the report')
  .option('--preprocess <mode>', `input preprocessing to remember (${PREPROCESS_HELP})`, preprocessOption)
  .option('--stride <px>', 'cells this many pixels apart, a divisor of the network\'s stride (à trous rewrite; remembered with -o)', strideOption)
  .option('--output <name>', 'output of a multi-output model to convert (default: the first giving class scores)')
  .option('--labels <file>', 'class names, one a line or a JSON array (remembered in convmap.json)')
  .option('--window <px>', 'input size the model was trained at, for a model saved without a fixed input size ([null, null, 3])', windowOption)
  .addOption(new Option('--backend <name>', 'tfjs backend').choices(BACKEND_REQUESTS as string[]).argParser(backendOption))
  .action(async (model: string, opts: { out?: string; json?: boolean; preprocess?: PreprocessMode; stride?: number; backend?: BackendRequest; output?: string; labels?: string; window?: number }) => {
    try {
      // Loaded here, not at start-up: `convmap --version` or `--help` need none of tfjs, sharp or the engine.
      const [{ isScannedPhoto }, { prepareModel }, { convertedOnnx }, { saveConverted }] = await Promise.all([
        import('../services/scan'), import('../services/models'), import('../onnx/convert'), import('../convert/save'),
      ]);
      if (isScannedPhoto(model)) throw new Error(`${model}: a photo, not a model (convert takes a model.json, its folder, a .h5, .keras or .onnx file; photos go to convmap heatmap)`);
      const backend = await selectBackend(opts.backend ?? 'auto');
      const prepared = await prepareModel(model, { preprocess: opts.preprocess, stride: opts.stride, output: opts.output, labelsFile: opts.labels, window: opts.window, keepOnnx: opts.out !== undefined, reportOnly: opts.out === undefined });
      const onnx = await convertedOnnx(prepared, model);
      try {
        if (opts.out) {
          await saveConverted(opts.out, prepared.artifacts, prepared.info, prepared.checkedWeightsFile);
          await onnx.save(opts.out);
        }
      } finally {
        await onnx.release();
      }
      const warning = approximationWarning(prepared.info.equivalence);
      if (warning) process.stderr.write(`convmap: ${printable(warning)}\n`);
      const guessed = preprocessWarning(prepared.info);
      if (guessed) process.stderr.write(`convmap: ${printable(guessed)}\n`);
      if (opts.json) {
        process.stdout.write(printableJson({ ok: true, ...prepared.info, backend, onnx: onnx.check, ...(opts.out ? { saved: opts.out } : {}) }) + '\n');
      } else {
        process.stdout.write(formatReport(prepared.info, backend, onnx.check) + '\n');
        if (opts.out) process.stdout.write(`saved       ${printable(opts.out)}\n`);
      }
    } catch (e) {
      fail(namingModel(e, model), opts.json ? { file: model } : undefined);
    }
  });

registerHeatmapCommand(program, fail);
registerQueueCommands(program, fail);

program
  .command('cache')
  .description('the caches: "info" prints the folder, its score maps and models and their size; "clear" removes every cached score map and model')
  .argument('<action>', 'info or clear')
  .option('--cache-dir <dir>', 'score cache folder (default $CONVMAP_CACHE_DIR or ~/.cache/convmap)')
  .action(async (action: string, opts: { cacheDir?: string }) => {
    try {
      const [{ cacheInfo, clearCache, defaultCacheDir, formatByteSize, DEFAULT_CACHE_BYTES }, { clearModelCache, modelCacheInfo, DEFAULT_MODEL_CACHE_BYTES }, { SHAPED_TEXT_FILE }, { rm }, path] = await Promise.all([
        import('../services/storage/cache'), import('../io/model-cache'), import('../services/glyphs'), import('node:fs/promises'), import('node:path'),
      ]);
      const dir = opts.cacheDir ?? defaultCacheDir();
      const modelsText = (m: { conversions: number; optimized: number; bytes: number }): string =>
        `${m.conversions} converted models, ${m.optimized} optimised for ONNX Runtime, ${formatByteSize(m.bytes)}`;
      if (action === 'info') {
        const info = await cacheInfo(dir);
        const models = await modelCacheInfo(dir);
        process.stdout.write(`cache       ${printable(info.dir)}\nfiles       ${info.files} score maps, ${formatByteSize(info.bytes)} (bound ${formatByteSize(DEFAULT_CACHE_BYTES)} unless --cache-size)\n`
          + `models      ${modelsText(models)} (bound ${formatByteSize(DEFAULT_MODEL_CACHE_BYTES)})\n`);
      } else if (action === 'clear') {
        const info = await clearCache(dir);
        const models = await clearModelCache(dir);
        // The legend's shaped lines (heatmap keeps them there): every cached thing goes.
        await rm(path.join(dir, SHAPED_TEXT_FILE), { force: true });
        process.stdout.write(`cleared     ${info.files} score maps, ${formatByteSize(info.bytes)} from ${printable(info.dir)}\n`
          + `cleared     ${modelsText(models)}\n`);
      } else {
        throw new Error(`cache: unknown action "${action}" (use info or clear)`);
      }
    } catch (e) {
      fail(e);
    }
  });

program
  .command('demo')
  .description('the built-in digit model on a generated scene of held-out digits: heatmap, detections, F1')
  .option('--out <dir>', 'output folder', 'convmap-demo')
  .option('--seed <n>', 'scene seed', '1')
  .action(async (opts: { out: string; seed: string }) => {
    try {
      const { runDemo } = await import('./demo');
      await runDemo({ out: opts.out, seed: Number(opts.seed) || 1 });
    } catch (e) {
      fail(e);
    }
  });

await program.parseAsync(process.argv);
