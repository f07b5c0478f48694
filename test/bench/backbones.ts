/**
 * Bench cases of issue 23: converting big backbones as `convmap convert` does (load, convert, crop
 * check, ONNX export and its check; with `-o`, the saved folder too), in this process, so that the
 * case's peak RSS is the conversion's.
 * - `convert-vgg19-topology`: the real VGG19 topology of ../shared/corpus/topologies (nested VGG19,
 *   BatchNormalization → Flatten → Dense4096 → Dense3, 491 MB of weights written by synth_weights.py);
 *   target ≤ 30 s and ≤ 1.5 GB (about 3× its weights).
 * - `convert-o-vgg16`: VGG16 (528 MB, random weights) saved as a tfjs folder by a child process,
 *   then `convert -o`; target ≤ 1.5 GB.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const TOPOLOGY = path.resolve(repo, '../shared/corpus/topologies/vgg19_nested_bn_flatten_dense4096_jeef518/model.json');
const SYNTH = path.resolve(repo, '../shared/corpus/tools/synth_weights.py');
const WORK = path.join(os.tmpdir(), 'convmap-bench-backbones');

/** Runs what `convmap convert [-o out]` runs on `model`; the seconds it took and the grade. */
async function convertLikeCli(model: string, out?: string): Promise<{ seconds: number; cpuSeconds: number; loadAverage1m: number; grade: string; window: number[]; stride: number[] }> {
  const [{ selectBackend }, { prepareModel }, { convertedOnnx }, { saveConverted }, { equivalenceGrade }] = await Promise.all([
    import('../../main/engine/backend'), import('../../main/services/models'), import('../../main/onnx/convert'), import('../../main/convert/save'),
    import('../../core/model-info'),
  ]);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await selectBackend('auto');
  const prepared = await prepareModel(model, { keepOnnx: out !== undefined, reportOnly: out === undefined });
  const onnx = await convertedOnnx(prepared, model);
  try {
    if (out) {
      await saveConverted(out, prepared.artifacts, prepared.info, prepared.checkedWeightsFile);
      await onnx.save(out);
    }
  } finally {
    await onnx.release();
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  // The machine may be shared: CPU seconds (all threads) and the load average say how far the wall time is this process's own.
  return { seconds: +seconds.toFixed(1), cpuSeconds: +((cpu.user + cpu.system) / 1e6).toFixed(1), loadAverage1m: +os.loadavg()[0].toFixed(2), grade: equivalenceGrade(prepared.info.equivalence), window: prepared.info.window, stride: prepared.info.stride };
}

export async function convertVgg19Topology(): Promise<Record<string, unknown>> {
  const name = 'convert-vgg19-topology';
  if (!existsSync(TOPOLOGY) || !existsSync(SYNTH)) return { case: name, skipped: 'the shared corpus (../shared/corpus/topologies) is not here' };
  const dir = path.join(WORK, 'vgg19');
  if (!existsSync(path.join(dir, '.synth-done'))) {
    const run = spawnSync('python3', [SYNTH, TOPOLOGY, '--seed', '1', '--out', dir], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (run.status !== 0) return { case: name, skipped: `synth_weights.py failed (python3 with numpy needed): ${run.stderr.split('\n').slice(-2).join(' ')}` };
    await fs.writeFile(path.join(dir, '.synth-done'), '');
  }
  const r = await convertLikeCli(dir);
  return { case: name, ...r, weightsMB: 491, targetSeconds: 30, targetPeakRssMB: 1500 };
}

/** Saves VGG16 (random weights) as a tfjs folder; run in a child so the measuring process never holds it. */
export async function saveVgg16Folder(): Promise<Record<string, unknown>> {
  const [{ vgg16 }, { modelToArtifacts }] = await Promise.all([import('./vgg'), import('../../main/model/artifacts')]);
  const model = vgg16();
  const artifacts = await modelToArtifacts(model);
  model.dispose();
  const dir = path.join(WORK, 'vgg16');
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'weights.bin'), new Uint8Array(artifacts.weightData as ArrayBuffer));
  const json = { format: 'layers-model', modelTopology: artifacts.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }] };
  await fs.writeFile(path.join(dir, 'model.json'), JSON.stringify(json));
  return { case: 'save-vgg16-folder', dir };
}

export async function convertOVgg16(): Promise<Record<string, unknown>> {
  const dir = path.join(WORK, 'vgg16');
  if (!existsSync(path.join(dir, 'model.json'))) {
    await promisify(execFile)(process.execPath, [path.join(repo, 'bin/run-ts.mjs'), path.join(here, 'bench.ts'), '--child', 'save-vgg16-folder'], { maxBuffer: 1 << 20 });
  }
  const out = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-bench-vgg16-o-'));
  try {
    const r = await convertLikeCli(dir, out);
    return { case: 'convert-o-vgg16', ...r, weightsMB: 528, targetPeakRssMB: 1500 };
  } finally {
    await fs.rm(out, { recursive: true, force: true });
  }
}
