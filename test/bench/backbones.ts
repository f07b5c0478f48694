/**
 * Bench cases of issue 23: converting big backbones as `convmap convert` does (load, convert, crop
 * check, ONNX export and its check; with `-o`, the saved folder too), in this process, so that the
 * case's peak RSS is the conversion's; a big model's check sessions run in child processes, sampled
 * with it (peakRssWithChildrenMB, the figure to hold to the target; childCpuSeconds).
 * - `convert-vgg19-topology`: the real VGG19 topology of ../shared/corpus/topologies (nested VGG19,
 *   BatchNormalization → Flatten → Dense4096 → Dense3, 491 MB of weights written by synth_weights.py);
 *   target ≤ 30 s and ≤ 1.5 GB (about 3× its weights).
 * - `convert-o-vgg16`: VGG16 (528 MB, random weights) saved as a tfjs folder by a child process,
 *   then `convert -o`; target ≤ 1.5 GB.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, promises as fs, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const TOPOLOGY = path.resolve(repo, '../shared/corpus/topologies/vgg19_nested_bn_flatten_dense4096_jeef518/model.json');
const SYNTH = path.resolve(repo, '../shared/corpus/tools/synth_weights.py');
const WORK = path.join(os.tmpdir(), 'convmap-bench-backbones');

/**
 * Samples the resident memory of this process and of its child processes together every 50 ms
 * (Linux: /proc), for the peak they held at once: a big model's check sessions run in children.
 * @returns stop(): the highest sum seen and the largest child, in bytes (0 where /proc is absent).
 */
function sampleWithChildren(): { stop(): { together: number; togetherPss: number; child: number } } {
  const rssOf = (pid: number | string): number => Number(/^VmRSS:\s+(\d+) kB/m.exec(readOr(`/proc/${pid}/status`))?.[1] ?? 0) * 1024;
  // Proportional set size: a page two processes share (node's and ONNX Runtime's code) counts half in
  // each, so the sum is what both hold, where the sum of RSS counts shared pages twice.
  const pssOf = (pid: number | string): number => Number(/^Pss:\s+(\d+) kB/m.exec(readOr(`/proc/${pid}/smaps_rollup`))?.[1] ?? 0) * 1024;
  let together = 0;
  let togetherPss = 0;
  let child = 0;
  let tick = 0;
  const timer = setInterval(() => {
    const pids: (number | string)[] = ['self'];
    let sum = rssOf('self');
    for (const pid of readdirOr('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      // Field 4 of stat, after the parenthesised command name.
      const ppid = Number(readOr(`/proc/${pid}/stat`).split(') ')[1]?.split(' ')[1]);
      if (ppid !== process.pid) continue;
      const rss = rssOf(pid);
      child = Math.max(child, rss);
      sum += rss;
      pids.push(pid);
    }
    // smaps_rollup walks every page table (milliseconds for a big process, taken from the timed job):
    // read every fifth tick, and only near the peak.
    if (++tick % 5 === 0 && sum >= 0.9 * together) togetherPss = Math.max(togetherPss, pids.reduce<number>((n, pid) => n + pssOf(pid), 0));
    together = Math.max(together, sum);
  }, 50);
  return { stop: () => (clearInterval(timer), { together, togetherPss, child }) };
}

/** CPU seconds of this process's ended and reaped children (Linux: cutime + cstime of /proc/self/stat; 0 elsewhere). */
function childrenCpuSeconds(): number {
  const fields = readOr('/proc/self/stat').split(') ')[1]?.split(' ') ?? [];
  // cutime and cstime are fields 16 and 17 of stat, 14 and 15 after the command name; in clock ticks (USER_HZ, 100 on Linux).
  return (Number(fields[13] ?? 0) + Number(fields[14] ?? 0)) / 100;
}

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function readdirOr(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Runs what `convmap convert [-o out]` runs on `model`; the seconds it took and the grade. */
async function convertLikeCli(model: string, out?: string): Promise<Record<string, unknown>> {
  const [{ selectBackend }, { prepareModel }, { convertedOnnx }, { saveConverted }, { equivalenceGrade }] = await Promise.all([
    import('../../main/engine/backend'), import('../../main/services/models'), import('../../main/onnx/convert'), import('../../main/convert/save'),
    import('../../core/model-info'),
  ]);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const sampled = sampleWithChildren();
  const childCpu0 = childrenCpuSeconds();
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
  const { together, togetherPss, child } = sampled.stop();
  const mb = (bytes: number): number => Math.round(bytes / 2 ** 20);
  // The machine may be shared: CPU seconds (all threads; the check's ended child processes in childCpuSeconds) and the load
  // average say how far the wall time is this process's own. peakRssMB (bench.ts) is this process's alone.
  return {
    seconds: +seconds.toFixed(1), cpuSeconds: +((cpu.user + cpu.system) / 1e6).toFixed(1), loadAverage1m: +os.loadavg()[0].toFixed(2),
    childCpuSeconds: +(childrenCpuSeconds() - childCpu0).toFixed(1), peakRssWithChildrenMB: mb(together), peakPssWithChildrenMB: mb(togetherPss), childPeakRssMB: mb(child),
    grade: equivalenceGrade(prepared.info.equivalence), window: prepared.info.window, stride: prepared.info.stride,
  };
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
