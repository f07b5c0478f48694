import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { matchDetections } from '../../core/detect';
import { selectBackend } from '../engine/backend';
import { createEngine } from '../engine/engine';
import { makeDigitScene } from '../digits/scene';
import { DRAW_DEFAULTS, defaultClassChoice } from '../../core/defaults';
import { computePhoto, scoresRecord } from '../services/heatmap';
import { photoDetections, renderExportPng } from '../services/export';
import { prepareModel } from '../services/models';
import { formatReport } from './report';
import { writeFileAtomic } from '../services/atomic';

export const DEMO_SCALES = [1, 2 / 3, 1 / 2];

/**
 * `convmap demo`: a scene of held-out MNIST digits at three sizes, the built-in model converted and
 * verified, the "any digit" heatmap at three scales, detections scored against the true boxes.
 */
export async function runDemo(opts: { out: string; seed: number }): Promise<void> {
  const backend = await selectBackend('auto');
  const prepared = await prepareModel(undefined);
  process.stdout.write(`${formatReport(prepared.info, backend)}\n\n`);

  await fs.mkdir(opts.out, { recursive: true });
  const scene = makeDigitScene({ width: 640, height: 480, count: 14, sizes: [28, 42, 56], seed: opts.seed });
  const scenePath = path.join(opts.out, 'digit-scene.png');
  await writeFileAtomic(scenePath, await sharp(scene.rgb, { raw: { width: scene.width, height: scene.height, channels: 3 } }).png().toBuffer());

  const engine = await createEngine({});
  try {
    const handle = await engine.loadModel(prepared.artifacts, prepared.info);
    // The window's and the CLI's defaults, with boxes on: every digit should show with its box.
    const style = { ...DRAW_DEFAULTS, boxes: true, legend: false };
    const classChoice = defaultClassChoice(prepared.info.labels);
    const result = await computePhoto(engine, handle, prepared.info, scenePath, DEMO_SCALES, { mode: style.mode, classChoice });
    const detections = photoDetections(result, prepared.info, style.detectThreshold);
    const out = { png: path.join(opts.out, 'digit-scene.heatmap.png'), json: path.join(opts.out, 'digit-scene.scores.json'), detections };
    await writeFileAtomic(out.png, await renderExportPng(result, prepared.info, style, detections));
    await writeFileAtomic(out.json, JSON.stringify(scoresRecord(scenePath, prepared.info, result, detections)) + '\n');
    const m = matchDetections(out.detections, scene.truth, 0.5);
    process.stdout.write([
      `scene       ${scenePath} (${scene.width}×${scene.height}, ${scene.truth.length} held-out digits at 28, 42 and 56 px)`,
      `scales      ${DEMO_SCALES.map((s) => s.toFixed(3)).join(', ')} → ${result.maps.map((mp) => `${mp.rows}×${mp.cols}`).join(', ')} cells`,
      `heatmap     ${out.png} (${classChoice === 'any' ? '"any digit": strongest class but background' : 'the scene\'s top class'}, with detection boxes)`,
      `scores      ${out.json}`,
      `detections  ${out.detections.length} boxes; against the true boxes at IoU 0.5: precision ${m.precision.toFixed(3)}, recall ${m.recall.toFixed(3)}, F1 ${m.f1.toFixed(3)}`,
      `backend     ${engine.backend}, ${engine.workers} worker threads`,
      '',
      'Next: npx convmap convert MODEL (a tfjs model.json or folder) · npx convmap heatmap [MODEL] PHOTO... --scales 1,1.5,2',
    ].join('\n') + '\n');
  } finally {
    await engine.close();
  }
}
