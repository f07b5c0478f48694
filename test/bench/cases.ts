import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { averageScoreMaps } from '../../core/average';
import { detect, matchDetections } from '../../core/detect';
import { selectBackend } from '../../main/engine/backend';
import { createEngine } from '../../main/engine/engine';
import type { OnnxRuntimeEngine } from '../../main/engine/onnx-engine';
import { convertClassifier } from '../../main/convert/convert';
import { loadConverted, modelToArtifacts, saveConverted } from '../../main/convert/save';
import { checkEquivalence } from '../../main/convert/equivalence';
import type { ConvertedModelInfo } from '../../core/model-info';
import { makeRecipe } from '../../core/recipe';
import { prepareModel } from '../../main/services/models';
import { makeDigitScene } from '../../main/digits/scene';
import { median, timeRuns } from './timing';
import { vgg16 } from './vgg';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Multiply-accumulates of a plain conv/pool/dense Sequential on an input of h×w (valid or same). */
function macs(model: tf.LayersModel, h: number, w: number, c: number): number {
  let total = 0;
  let flat = 0;
  for (const layer of model.layers) {
    const cfg = layer.getConfig() as Record<string, unknown>;
    const cls = layer.getClassName();
    if (cls === 'Conv2D') {
      const [kh, kw] = cfg.kernelSize as number[];
      const [sh, sw] = cfg.strides as number[];
      const same = cfg.padding === 'same';
      const oh = same ? Math.ceil(h / sh) : Math.floor((h - kh) / sh) + 1;
      const ow = same ? Math.ceil(w / sw) : Math.floor((w - kw) / sw) + 1;
      total += oh * ow * kh * kw * c * Number(cfg.filters);
      [h, w, c] = [oh, ow, Number(cfg.filters)];
    } else if (cls === 'MaxPooling2D' || cls === 'AveragePooling2D') {
      const [ph, pw] = cfg.poolSize as number[];
      const [sh, sw] = cfg.strides as number[];
      [h, w] = [Math.floor((h - ph) / sh) + 1, Math.floor((w - pw) / sw) + 1];
    } else if (cls === 'Flatten') {
      flat = h * w * c;
    } else if (cls === 'Dense') {
      total += flat * Number(cfg.units);
      flat = Number(cfg.units);
    }
  }
  return total;
}

async function vggCrops(runs: number): Promise<Record<string, unknown>> {
  const backend = await selectBackend('auto');
  const classifier = vgg16();
  const conv = convertClassifier(classifier, 'vgg16');
  const n = 384;
  const image = tf.randomUniform([1, n, n, 3], 0, 1, 'float32', 7);
  const crops = tf.tidy(() => {
    const list: tf.Tensor[] = [];
    for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) list.push(image.slice([0, i * 32, j * 32, 0], [1, 224, 224, 3]));
    return tf.concat(list, 0);
  });
  const fcnPass = async (): Promise<void> => {
    const y = conv.fcn.predict(image) as tf.Tensor;
    await y.data();
    y.dispose();
  };
  const cropPass = async (): Promise<void> => {
    const y = classifier.predict(crops, { batchSize: 12 }) as tf.Tensor;
    await y.data();
    y.dispose();
  };
  await fcnPass();
  await cropPass();
  // Interleaved, so both sides see the same machine state (wasm heap growth, other load).
  const fcnMs: number[] = [];
  const cropMs: number[] = [];
  for (let r = 0; r < runs; r++) {
    fcnMs.push(...(await timeRuns(1, fcnPass)));
    cropMs.push(...(await timeRuns(1, cropPass)));
  }
  const fcnOut = conv.fcn.predict(image) as tf.Tensor;
  const cropOut = classifier.predict(crops, { batchSize: 12 }) as tf.Tensor;
  const maxAbsDiff = tf.tidy(() => tf.max(tf.abs(tf.sub(fcnOut.reshape([36, -1]), cropOut))).dataSync()[0]);
  const flopRatio = (36 * macs(classifier, 224, 224, 3)) / macs(conv.fcn, n, n, 3);
  return {
    case: 'vgg16-384', backend, input: [n, n], cells: fcnOut.shape.slice(1, 3), runs,
    fcnMedianMs: Math.round(median(fcnMs)), crops36MedianMs: Math.round(median(cropMs)),
    ratio: +(median(cropMs) / median(fcnMs)).toFixed(2), flopRatio: +flopRatio.toFixed(2),
    fcnGmac: +(macs(conv.fcn, n, n, 3) / 1e9).toFixed(1), maxAbsDiffVsCrops: maxAbsDiff,
    note: 'VGG16 uses same padding, so cells differ slightly from crops near window borders',
  };
}

const VGG_DIR = path.join(os.tmpdir(), 'convmap-bench-vgg16-fcn');

/** Converts VGG16 once and saves it, so the measuring process never holds the classifier's weights. */
async function prepareVgg(): Promise<Record<string, unknown>> {
  await selectBackend('auto');
  const classifier = vgg16();
  const conv = convertClassifier(classifier, 'vgg16');
  const equivalence = await checkEquivalence(classifier, conv, 'vgg16', { cellsPerAxis: 2 });
  const info: ConvertedModelInfo = {
    format: 'convmap-fcn', version: 1, source: 'bench: VGG16 with random weights', window: conv.window, stride: conv.stride,
    offset: conv.offset, channels: conv.channels, labels: Array.from({ length: conv.classes }, (_, i) => `class ${i}`),
    head: conv.head, boundary: conv.boundary, padding: conv.padding, preprocess: 'unit', equivalence,
  };
  await saveConverted(VGG_DIR, await modelToArtifacts(conv.fcn), info);
  return { case: 'prepare-vgg16', dir: VGG_DIR };
}

/**
 * @param workers each worker holds its own copy of the weights, and the wasm backend keeps XNNPACK's
 *   packed copy of every convolution's filter beside it: about 3× the 528 MB of VGG16 per worker.
 */
/** Converts and saves VGG16 in a child process (so this one never holds the classifier's weights). */
async function prepareVggInChild(): Promise<void> {
  await promisify(execFile)(process.execPath, [path.join(here, '../../bin/run-ts.mjs'), path.join(here, 'bench.ts'), '--child', 'prepare-vgg16'], { maxBuffer: 1 << 20 });
}

/**
 * Samples this process's and ONNX Runtime's process's resident memory together every 100 ms (Linux:
 * /proc/PID/status), for the peak both held at once, which the sum of their two peaks only bounds.
 * @returns stop(): the highest sum seen, in bytes.
 */
async function sampleRssTogether(engine: OnnxRuntimeEngine): Promise<{ stop(): number }> {
  const { pid } = await engine.hostState();
  const rssOf = async (id: number): Promise<number> => {
    const status = await fs.readFile(`/proc/${id}/status`, 'utf8').catch(() => '');
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
  };
  let peak = 0;
  const timer = setInterval(() => {
    void rssOf(pid).then((child) => (peak = Math.max(peak, process.memoryUsage.rss() + child)));
  }, 100);
  return { stop: () => (clearInterval(timer), peak) };
}

async function vggBig(h: number, w: number, runs: number, workers?: number): Promise<Record<string, unknown>> {
  if (!existsSync(path.join(VGG_DIR, 'convmap.json'))) await prepareVggInChild();
  const { artifacts, info } = await loadConverted(VGG_DIR);
  // ONNX Runtime sizes its tiles from its memory budget; the tfjs workers get 0.4 MP tiles.
  // One ONNX Runtime session uses every core whatever the tfjs worker count would be.
  let engine = await createEngine({ backend: 'auto' });
  if (engine.backend !== 'onnx') {
    const tfjs = engine.backend;
    await engine.close();
    engine = await createEngine({ backend: tfjs, maxTilePixels: 400_000, workers });
  }
  const backend = engine.backend;
  const together = backend === 'onnx' ? await sampleRssTogether((engine as OnnxRuntimeEngine)) : undefined;
  try {
    const handle = await engine.loadModel(artifacts, info, { transfer: true });
    const data = new Uint8Array(h * w * 3);
    for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
    const image = { data, width: w, height: h, channels: 3 as const };
    let cells = 0;
    const times = await timeRuns(runs, async () => {
      const [map] = await engine.scoreMaps(handle, image, [1], 'unit');
      cells = map.rows * map.cols;
    });
    const ms = median(times);
    // ONNX Runtime's own process: its peak adds to this process's (the bench reports both and their sum).
    const host = backend === 'onnx' ? await (engine as OnnxRuntimeEngine).hostState() : undefined;
    return {
      ...(host ? { onnxProcessPeakRssMB: Math.round(host.peakRssBytes / 2 ** 20) } : {}),
      ...(together ? { peakRssTogetherMB: Math.round(together.stop() / 2 ** 20) } : {}),
      case: `vgg16-${w}x${h}`, backend, device: engine.device, workers: engine.workers, input: [h, w], runs, cells, tiles: backend === 'onnx' ? 'from the memory budget' : 'maxTilePixels 400000',
      medianMs: Math.round(ms), cellsPerSecond: +(cells / (ms / 1000)).toFixed(1),
      megapixelsPerSecond: +((h * w) / 1e6 / (ms / 1000)).toFixed(3),
    };
  } finally {
    await engine.close();
  }
}

async function digitsScene(runs: number): Promise<Record<string, unknown>> {
  const backend = await selectBackend('auto');
  const prepared = await prepareModel(undefined);
  const engine = await createEngine({ backend: 'auto' });
  const scales = [1, 2 / 3, 1 / 2];
  try {
    const handle = await engine.loadModel(prepared.artifacts, prepared.info);
    let tp = 0, fp = 0, fn = 0;
    const times: number[] = [];
    let pixels = 0;
    for (let s = 0; s < 5; s++) {
      const scene = makeDigitScene({ width: 640, height: 480, count: 14, sizes: [28, 42, 56], seed: 1000 + s });
      const image = { data: scene.rgb, width: scene.width, height: scene.height, channels: 3 as const };
      const t = await timeRuns(runs, async () => {
        await engine.scoreMaps(handle, image, scales, prepared.info.preprocess);
      });
      times.push(median(t));
      pixels += scene.width * scene.height;
      const maps = await engine.scoreMaps(handle, image, scales, prepared.info.preprocess);
      averageScoreMaps(maps);
      const dets = detect(maps, { threshold: 0.5, labels: prepared.info.labels });
      const m = matchDetections(dets, scene.truth, 0.5);
      tp += m.tp; fp += m.fp; fn += m.fn;
    }
    const precision = tp / Math.max(1, tp + fp);
    const recall = tp / Math.max(1, tp + fn);
    const totalMs = times.reduce((a, b) => a + b, 0);
    return {
      case: 'digits-scene', backend, workers: engine.workers, scenes: 5, scales, runs,
      msPerMegapixel: Math.round(totalMs / (pixels / 1e6)),
      precision: +precision.toFixed(3), recall: +recall.toFixed(3), f1: +((2 * precision * recall) / Math.max(1e-9, precision + recall)).toFixed(3),
      iou: 0.5,
    };
  } finally {
    await engine.close();
  }
}

async function torchPeer(runs: number): Promise<Record<string, unknown>> {
  const python = '/usr/bin/python3';
  const probe = await promisify(execFile)(python, ['-c', 'import torch; print(torch.__version__)']).catch(() => null);
  if (!existsSync(python) || !probe) {
    return { case: 'torch-peer', skipped: 'Debian python3-torch is not installed (apt-get install -y python3-torch)' };
  }
  const backend = await selectBackend('auto');
  const { stdout } = await promisify(execFile)(python, [path.join(here, 'torch_vgg.py'), String(runs), '1'], { maxBuffer: 1 << 20 });
  const torch = JSON.parse(stdout.trim().split('\n').pop() as string) as { medianMs: number; threads: number; version: string };
  const classifier = vgg16();
  const conv = convertClassifier(classifier, 'vgg16');
  classifier.dispose();
  const image = tf.randomUniform([1, 384, 384, 3], 0, 1, 'float32', 7);
  const pass = async (): Promise<void> => {
    const y = conv.fcn.predict(image) as tf.Tensor;
    await y.data();
    y.dispose();
  };
  await pass();
  const ms = median(await timeRuns(runs, pass));
  return {
    case: 'torch-peer-wasm-1-thread', input: [384, 384], threads: 1, runs, torchVersion: torch.version,
    convmapBackend: backend, convmapMedianMs: Math.round(ms), torchMedianMs: Math.round(torch.medianMs),
    ratioConvmapToTorch: +(ms / torch.medianMs).toFixed(2),
    note: `one thread each (${os.availableParallelism()} cores here); the wasm backend is single-threaded`,
  };
}

const BATCH_DIR = path.join(os.tmpdir(), 'convmap-bench-batch');

/** 50 digit scenes of mixed sizes (320×240 … 1280×960), written once as PNG. */
async function batchPhotos(): Promise<string[]> {
  const sharp = (await import('sharp')).default;
  const { promises: fs } = await import('node:fs');
  await fs.mkdir(BATCH_DIR, { recursive: true });
  const sizes: [number, number][] = [[320, 240], [640, 480], [800, 600], [1024, 768], [1280, 960]];
  const photos: string[] = [];
  for (let i = 0; i < 50; i++) {
    const file = path.join(BATCH_DIR, `scene-${String(i).padStart(2, '0')}.png`);
    if (!existsSync(file)) {
      const [w, h] = sizes[i % sizes.length];
      const scene = makeDigitScene({ width: w, height: h, count: Math.round((w * h) / 30000), sizes: [28, 42, 56], seed: 9000 + i });
      await sharp(scene.rgb, { raw: { width: w, height: h, channels: 3 } }).png().toFile(file);
    }
    photos.push(file);
  }
  return photos;
}

async function batch(workers: number | undefined, runs: number): Promise<Record<string, unknown>> {
  const { runBatch } = await import('../../main/services/batch');
  const { promises: fs } = await import('node:fs');
  await selectBackend('auto');
  const photos = await batchPhotos();
  const prepared = await prepareModel(undefined);
  const engine = await createEngine({ backend: 'auto', workers });
  const rss: number[] = [];
  try {
    const handle = await engine.loadModel(prepared.artifacts, prepared.info);
    const times = await timeRuns(runs, async () => {
      const out = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-bench-out-'));
      try {
        const summary = await runBatch({
          engine, handle, info: prepared.info, photos, outDir: out,
          options: { recipe: makeRecipe({ scales: [1, 2 / 3, 1 / 2], colormap: 'turbo', opacity: 0.5, threshold: 0, mode: 'mean', boxes: false, legend: false, classChoice: 'top', detectThreshold: 0.5 }) },
          onEvent: (e) => {
            if (e.type === 'progress') rss.push(process.memoryUsage().rss);
          },
        });
        if (summary.done !== photos.length) throw new Error(`batch bench: ${summary.failed.length} photos failed`);
      } finally {
        await fs.rm(out, { recursive: true, force: true });
      }
    });
    const ms = median(times);
    const tenth = rss[Math.floor(rss.length / 5)] ?? 0;
    return {
      case: workers === 1 ? 'batch-1-worker' : 'batch-all-cores', backend: engine.backend, workers: engine.workers, photos: photos.length,
      scales: 3, runs, medianMs: Math.round(ms), photosPerMinute: +((photos.length * 60000) / ms).toFixed(1),
      rssMBAfterFifthOfPhotos: Math.round(tenth / 2 ** 20), rssMBAtEnd: Math.round((rss[rss.length - 1] ?? 0) / 2 ** 20),
    };
  } finally {
    await engine.close();
  }
}

/** Runs one named benchmark case and returns its JSON record. */
export async function runCase(name: string, runs: number): Promise<Record<string, unknown>> {
  switch (name) {
    case 'vgg16-384': return vggCrops(runs);
    case 'vgg16-1000x800': return vggBig(800, 1000, runs);
    case 'vgg16-4000x3000': return vggBig(3000, 4000, 1, 1);
    case 'digits-scene': return digitsScene(runs);
    case 'torch-peer': return (await import('./onnx')).torchPeerAllCores(runs, VGG_DIR, prepareVggInChild);
    case 'torch-peer-wasm-1-thread': return torchPeer(runs);
    case 'onnx-peer': return (await import('./onnx')).onnxPeer(runs, VGG_DIR, prepareVggInChild);
    case 'mobilenetv2-tm-2725x2225': return (await import('./onnx')).mobilenetPhoto(runs);
    case 'mobilenetv2-graph-peer': return (await import('./graph-peer')).mobilenetGraphPeer(runs);
    case 'prepare-vgg16': return prepareVgg();
    case 'batch-1-worker': return batch(1, runs);
    case 'batch-all-cores': return batch(undefined, runs);
    case 'stride-vgg16-384-s16': return (await import('./stride')).strideVgg(16, runs);
    case 'stride-vgg16-384-s8': return (await import('./stride')).strideVgg(8, runs);
    case 'stride-digits-s4': return (await import('./stride')).strideDigits(undefined, runs);
    case 'stride-digits-s2': return (await import('./stride')).strideDigits(2, runs);
    case 'picture-100mp': return (await import('./big-photo')).picture100mp(runs);
    case 'picture-1mp': return (await import('./picture')).picture1mp(runs);
    case 'localise': return (await import('./localise')).localise(false);
    case 'localise-full': return (await import('./localise')).localise(true);
    case 'queue': return (await import('./queue')).queueBench(false);
    case 'queue-quick': return (await import('./queue')).queueBench(true);
    case 'onnx-import-vgg11-384': return (await import('./onnx-import')).onnxImportCrops('vgg11', runs);
    case 'onnx-import-alexnet-384': return (await import('./onnx-import')).onnxImportCrops('alexnet', runs);
    case 'onnx-import-resnet18-384': return (await import('./onnx-import')).onnxImportCrops('resnet18', runs);
    case 'onnx-import-resnet18-peer-384': return (await import('./onnx-import')).onnxImportPeer(runs);
    case 'open-tm-service': return (await import('./open')).openTmService(runs);
    case 'heatmap-1mp': return (await import('./open')).heatmapOnePhoto(runs);
    case 'batch-100-1mp': return (await import('./open')).batchHundred(runs);
    case 'heatmap-vgg16-384': return (await import('./open')).heatmapVgg16(runs, path.join(os.tmpdir(), 'convmap-bench-backbones', 'vgg16'), async () => {
      await promisify(execFile)(process.execPath, [path.join(here, '../../bin/run-ts.mjs'), path.join(here, 'bench.ts'), '--child', 'save-vgg16-folder'], { maxBuffer: 1 << 20 });
    });
    case 'convert-vgg19-topology': return (await import('./backbones')).convertVgg19Topology();
    case 'convert-o-vgg16': return (await import('./backbones')).convertOVgg16();
    case 'save-vgg16-folder': return (await import('./backbones')).saveVgg16Folder();
    case 'cancel-onnx': return (await import('./cancel')).cancelOnnx(runs);
    case 'decode-process': return (await import('./decode')).decodeProcess(runs);
    case 'cancel-vgg16': {
      if (!existsSync(path.join(VGG_DIR, 'convmap.json'))) await prepareVggInChild();
      const { artifacts, info } = await loadConverted(VGG_DIR);
      return (await import('./cancel')).measureCancel('cancel-vgg16', artifacts, info, 1184, 224, runs);
    }
    default: throw new Error(`unknown bench case ${name}`);
  }
}
