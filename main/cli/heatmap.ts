import { promises as fs } from 'node:fs';
import path from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import type { CombineMode } from '../../core/average';
import { isColormapName, type ColormapName } from '../../core/colormap';
import { isPreprocessMode } from '../../core/model-info';
import { isBackendRequest, selectBackend } from '../engine/backend';
import { createEngine } from '../engine/engine';
import { prepareModel } from '../services/models';
import { classLabel, computePhoto, writePhotoOutputs, type OverlayStyle } from '../services/heatmap';

const MODEL_EXT = /\.(json|h5|hdf5|keras)$/i;

/** A first argument is a model when it is a .json/.h5/.keras file or a folder holding a model.json. */
async function looksLikeModel(p: string): Promise<boolean> {
  const stat = await fs.stat(p).catch(() => null);
  if (!stat) return MODEL_EXT.test(p);
  if (stat.isFile()) return MODEL_EXT.test(p);
  const entries = await fs.readdir(p).catch(() => [] as string[]);
  return entries.includes('model.json') || entries.includes('convmap.json');
}

function parseNumber(name: string, v: unknown, lo: number, hi: number): number {
  const x = Number(v);
  if (!Number.isFinite(x) || x < lo || x > hi) throw new Error(`--${name} must be a number in [${lo}, ${hi}], got "${String(v)}"`);
  return x;
}

/** Parses "1,1.5,2" into positive scales. */
export function parseScales(text: string): number[] {
  const scales = text.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (scales.length === 0 || scales.some((s) => !Number.isFinite(s) || s <= 0 || s > 16)) {
    throw new Error(`--scales must be comma-separated numbers in (0, 16], got "${text}"`);
  }
  return scales;
}

/** `convmap heatmap [MODEL] IMAGE...`: one overlay PNG and one scores JSON per photo. */
export async function runHeatmapCommand(inputs: string[], opts: Record<string, string | boolean | undefined>): Promise<void> {
  const scales = parseScales(String(opts.scales ?? '1'));
  const style: OverlayStyle = {
    colormap: (isColormapName(opts.colormap) ? opts.colormap : 'turbo') as ColormapName,
    opacity: parseNumber('opacity', opts.opacity ?? 0.5, 0, 1),
    threshold: parseNumber('threshold', opts.threshold ?? 0, 0, Number.MAX_VALUE),
    mode: (opts.mode === 'max' ? 'max' : 'mean') as CombineMode,
  };
  if (opts.mode !== undefined && opts.mode !== 'mean' && opts.mode !== 'max') throw new Error(`--mode must be mean or max, got "${String(opts.mode)}"`);
  if (opts.preprocess !== undefined && !isPreprocessMode(opts.preprocess)) throw new Error(`unknown preprocessing "${String(opts.preprocess)}"`);
  const workers = opts.workers !== undefined ? parseNumber('workers', opts.workers, 1, 64) : undefined;

  let modelPath: string | undefined;
  let photos = inputs;
  if (inputs.length > 0 && (await looksLikeModel(inputs[0]))) {
    modelPath = inputs[0];
    photos = inputs.slice(1);
  }
  if (photos.length === 0) throw new Error('no photos given (usage: convmap heatmap [MODEL] IMAGE... )');

  const backendRequest = isBackendRequest(opts.backend) ? opts.backend : 'auto';
  await selectBackend(backendRequest);
  const prepared = await prepareModel(modelPath, { preprocess: isPreprocessMode(opts.preprocess) ? opts.preprocess : undefined });
  const { info } = prepared;
  const outDir = String(opts.out ?? '.');
  await fs.mkdir(outDir, { recursive: true });

  const engine = await createEngine({ backend: backendRequest, workers });
  const bar = process.stderr.isTTY && !opts.json
    ? new SingleBar({ format: 'heatmap {bar} {value}/{total} photos | {photo}', hideCursor: true }, Presets.shades_classic)
    : undefined;
  const failures: string[] = [];
  const usedNames = new Set<string>();
  try {
    const handle = await engine.loadModel(prepared.artifacts, info);
    bar?.start(photos.length, 0, { photo: '' });
    for (const photo of photos) {
      bar?.update({ photo: path.basename(photo) });
      const base = path.basename(photo, path.extname(photo));
      let name = base;
      for (let k = 2; usedNames.has(name); k++) name = `${base}-${k}`;
      usedNames.add(name);
      try {
        const result = await computePhoto(engine, handle, info, photo, scales, { mode: style.mode, classChoice: String(opts.class ?? 'top') });
        const out = await writePhotoOutputs(outDir, name, photo, info, result, style);
        const label = classLabel(info.labels, result.classIndex);
        if (opts.json) {
          process.stdout.write(JSON.stringify({ photo, png: out.png, scores: out.json, class: label, backend: engine.backend, detections: out.detections.length }) + '\n');
        } else if (!bar) {
          process.stdout.write(`${photo} → ${out.png} (class ${label}, ${result.maps.map((m) => `${m.scale}: ${m.rows}×${m.cols}`).join(', ')} cells)\n`);
        }
      } catch (e) {
        failures.push(`${photo}: ${(e as Error).message.split('\n')[0]}`);
        if (!bar) process.stderr.write(`convmap: ${failures[failures.length - 1]}\n`);
      }
      bar?.increment();
    }
  } finally {
    bar?.stop();
    await engine.close();
  }
  if (!opts.json) {
    process.stdout.write(`${photos.length - failures.length} of ${photos.length} photos done with ${engine.backend} (${engine.workers} workers)${failures.length ? `, ${failures.length} failed:` : ''}\n`);
    for (const f of failures) process.stdout.write(`  ${f}\n`);
  }
  if (failures.length > 0) process.exitCode = 1;
}
