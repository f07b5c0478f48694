/**
 * `npm run bench -- [--json] [--runs N] [--quick] [--case NAME]`: speed and memory, side by side in
 * one run, printed as one JSON object per case. Each case runs in its own child process so its peak
 * memory (RSS, workers included: they are threads) is its own.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');

export interface BenchArgs { json: boolean; runs: number; quick: boolean; cases: string[] }

function parseArgs(argv: string[]): BenchArgs & { child?: string } {
  const a: BenchArgs & { child?: string } = { json: false, runs: 3, quick: false, cases: [] };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    if (v === '--json') a.json = true;
    else if (v === '--quick') a.quick = true;
    else if (v === '--runs') a.runs = Math.max(1, Number(argv[++i]));
    else if (v === '--case') a.cases.push(argv[++i]);
    else if (v === '--child') a.child = argv[++i];
  }
  return a;
}

const ALL_CASES = ['vgg16-384', 'vgg16-1000x800', 'vgg16-4000x3000', 'digits-scene', 'batch-1-worker', 'batch-all-cores', 'torch-peer',
  'torch-peer-wasm-1-thread', 'onnx-peer', 'mobilenetv2-tm-2725x2225', 'mobilenetv2-graph-peer',
  'stride-vgg16-384-s16', 'stride-vgg16-384-s8', 'stride-digits-s4', 'stride-digits-s2', 'picture-100mp', 'picture-1mp', 'cancel-onnx', 'cancel-vgg16', 'decode-process', 'open-tm-service', 'heatmap-1mp', 'batch-100-1mp', 'heatmap-vgg16-384', 'localise', 'queue', 'onnx-import-vgg11-384', 'onnx-import-alexnet-384', 'onnx-import-resnet18-384', 'onnx-import-resnet18-peer-384',
  'convert-vgg19-topology', 'convert-o-vgg16'];

async function runChild(name: string, args: BenchArgs): Promise<Record<string, unknown>> {
  const childArgs = [path.join(repo, 'bin/run-ts.mjs'), path.join(here, 'bench.ts'), '--child', name, '--runs', String(args.runs)];
  return new Promise((resolve) => {
    const p = spawn(process.execPath, childArgs, { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('close', (code) => {
      const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
      resolve(line ? (JSON.parse(line) as Record<string, unknown>) : { case: name, error: `child exited with ${code}` });
    });
  });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.child) {
    const { runCase } = await import('./cases');
    const result = await runCase(args.child, args.runs);
    const peakRssMB = Math.round(process.resourceUsage().maxRSS / 1024);
    const hostPeak = result.onnxProcessPeakRssMB;
    // Two processes' peaks: their sum bounds what both held at once.
    process.stdout.write(JSON.stringify({ ...result, peakRssMB, ...(typeof hostPeak === 'number' ? { peakRssBothMB: peakRssMB + hostPeak } : {}) }) + '\n');
    process.exit(0);
  }
  const cases = args.cases.length > 0 ? args.cases : ALL_CASES.filter((c) => !(args.quick && c === 'vgg16-4000x3000')).map((c) => (args.quick && c === 'queue' ? 'queue-quick' : c));
  const results = new Map<string, Record<string, unknown>>();
  const print = (result: Record<string, unknown>): void => {
    process.stdout.write(args.json ? JSON.stringify(result) + '\n' : `${JSON.stringify(result, null, 2)}\n`);
  };
  for (const name of cases) {
    if (!args.json) process.stderr.write(`bench: ${name}…\n`);
    const result = await runChild(name, args);
    results.set(name, result);
    print(result);
  }
  const one = results.get('batch-1-worker')?.photosPerMinute;
  const all = results.get('batch-all-cores')?.photosPerMinute;
  if (typeof one === 'number' && typeof all === 'number') {
    print({ case: 'batch-scaling', workers: results.get('batch-all-cores')?.workers, ratioAllCoresToOneWorker: +(all / one).toFixed(2), target: 1.6 });
  }
}

await main();
