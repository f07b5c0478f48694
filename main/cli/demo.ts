import { promises as fs } from 'node:fs';
import path from 'node:path';
import { matchDetections } from '../../core/detect';
import type { Box } from '../../core/scoremap';
import { selectBackend } from '../engine/backend';
import { createEngine } from '../engine/engine';
import { writeDemoScene } from '../digits/demo-scene';
import { defaultClassChoice } from '../../core/defaults';
import { makeRecipe, type Recipe } from '../../core/recipe';
import { checkOutputFolder } from '../io/atomic';
import { runBatch, type PhotoOutcome } from '../services/batch';
import { prepareModel } from '../services/models';
import { openSession } from '../services/session';
import { formatReport } from './report';

export const DEMO_SCALES = [1, 2 / 3, 1 / 2];

/** The demo's recipe: the window's and the CLI's shared defaults at the demo's scales, with boxes on (every digit should show with its box). */
export function demoSettings(labels: readonly string[]): Recipe {
  return makeRecipe({ scales: DEMO_SCALES, boxes: true, legend: false, classChoice: defaultClassChoice(labels) });
}

/**
 * `convmap demo`: a scene of held-out MNIST digits at three sizes, the built-in model converted and
 * verified, the "any digit" picture at three scales through the same batch pipeline as `heatmap`
 * (a rerun with the same seed finds its outputs complete instead of overwriting them), detections
 * scored against the true boxes.
 */
export async function runDemo(opts: { out: string; seed: number }): Promise<void> {
  const backend = await selectBackend('auto');
  const prepared = await prepareModel(undefined);
  process.stdout.write(`${formatReport(prepared.info, backend)}\n\n`);

  await checkOutputFolder(opts.out);
  const scenePath = path.join(opts.out, 'digit-scene.png');
  const scene = await writeDemoScene(scenePath, opts.seed);

  const settings = demoSettings(prepared.info.labels);
  const engine = await createEngine({});
  let outcome: PhotoOutcome | undefined;
  let failure: string | undefined;
  try {
    const { handle, modelKey } = await openSession(engine, undefined, prepared);
    await runBatch({
      engine, handle, info: prepared.info, photos: [scenePath], outDir: opts.out,
      modelKey, options: { recipe: settings },
      onEvent: (e) => {
        if (e.type === 'photo' && e.status === 'done') outcome = e.outcome;
        if (e.type === 'photo' && e.status === 'failed') failure = e.reason;
      },
    });
  } finally {
    await engine.close();
  }
  if (!outcome?.png || !outcome.json) throw new Error(`${path.basename(scenePath)}: ${failure ?? 'the demo scene was not processed'}`);
  const record = JSON.parse(await fs.readFile(outcome.json, 'utf8')) as { detections: { label: string; score: number; box: Box }[] };
  const detections = record.detections.map((d) => ({ ...d, classIndex: prepared.info.labels.indexOf(d.label) }));
  const m = matchDetections(detections, scene.truth, 0.5);
  process.stdout.write([
    `scene       ${scenePath} (${scene.width}×${scene.height}, ${scene.truth.length} held-out digits at 28, 42 and 56 px)`,
    `scales      ${DEMO_SCALES.map((s) => s.toFixed(3)).join(', ')} → ${outcome.cells.map((c) => `${c.rows}×${c.cols}`).join(', ')} cells`,
    `heatmap     ${outcome.png} (${settings.classChoice === 'any' ? '"any digit": strongest class but background' : 'the scene\'s top class'}, with detection boxes)${outcome.resumed ? ' — already there from an earlier run' : ''}`,
    `scores      ${outcome.json}`,
    `detections  ${detections.length} boxes; against the true boxes at IoU 0.5: precision ${m.precision.toFixed(3)}, recall ${m.recall.toFixed(3)}, F1 ${m.f1.toFixed(3)}`,
    `backend     ${engine.backend === 'onnx' ? `onnx (ONNX Runtime) on ${engine.device}, ${engine.workers} threads` : `${engine.backend}, ${engine.workers} worker threads`}`,
    // The demo asks for --device auto, where a GPU provider that is not installed is the normal case (as in heatmap).
    ...(engine.backend === 'onnx' ? [] : engine.notes).map((n) => `            not used: ${n}`),
    '',
    'Next: node bin/convmap.mjs convert MODEL (model.json or its folder, .h5, .keras, .onnx) · node bin/convmap.mjs heatmap MODEL PHOTO_OR_FOLDER... (see docs/cli.md)',
  ].join('\n') + '\n');
}
