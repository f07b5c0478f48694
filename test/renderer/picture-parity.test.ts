/**
 * The window's picture is the exported one (issue 18): the renderer's stores (in Node: they need no DOM), driven by the real app
 * service (no fake), draw through core's stages; "Export photo…" of the same state writes a PNG whose
 * pixels are the window's overlay blended over the photo, byte for byte, with the same class. The
 * state is the one that split them apart: torchvision-style labels ('__background__') with the 'top'
 * class, and a scale switched off in the window; with smooth cells and flat ones.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConvmapApi } from '../../core/api';
import { blendOverRgb } from '../../core/overlay';
import { paintView } from '../../core/pipeline';
import { makeDigitScene } from '../../main/digits/scene';
import { createAppService, type AppService } from '../../main/services/window/app-service';
import { useBatchStore } from '../../renderer/stores/batch';
import { useModelStore } from '../../renderer/stores/model';
import { usePhotosStore } from '../../renderer/stores/photos';
import { useScoresStore } from '../../renderer/stores/scores';
import { useViewStore } from '../../renderer/stores/view';
import { piniaWith, settle } from './fake-api';

const W = 160;
const H = 120;

let tmp: string;
let service: AppService;
let photoFile: string;
let labelsFile: string;
let outDir: string;

/** The window's ConvmapApi over the real service; the export dialog "chooses" outDir. */
function serviceApi(s: AppService): ConvmapApi {
  const none = (): (() => void) => () => undefined;
  return {
    backendInfo: () => s.backendInfo(),
    openModelDialog: async () => null,
    loadModel: (r) => s.loadModel(r),
    openLabelsDialog: async () => null,
    setPreprocess: (r) => s.setPreprocess(r),
    openPhotosDialog: async () => ({ photos: [], failed: [] }),
    addPhotos: (p) => s.addPhotos(p),
    demoScene: () => s.demoScene(),
    computeScores: (r) => s.computeScores(r),
    cancel: (id) => s.cancel(id),
    recent: () => s.recent(),
    openFoldersDialog: async () => ({ photos: [], failed: [], skipped: 0, models: [] }),
    addFolders: (r) => s.addFolders(r),
    chooseExportFolder: async () => {
      s.allowExportDir(outDir);
      return outDir;
    },
    runBatch: (r) => s.runBatch(r),
    pauseBatch: (id) => s.pauseBatch(id),
    resumeBatch: (id) => s.resumeBatch(id),
    showInFolder: async () => undefined,
    onProgress: (l) => s.onProgress(l),
    onOpenFiles: none,
    onBatch: (l) => s.onBatch(l),
    onMenu: none,
    pathForFile: () => '',
  };
}

/** Waits (polling the stores) until `done` holds. */
async function until(done: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 600 && !done(); i++) await new Promise((r) => setTimeout(r, 50));
  if (!done()) throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-parity-'));
  const scene = makeDigitScene({ width: W, height: H, count: 3, sizes: [28, 42], seed: 5 });
  photoFile = path.join(tmp, 'scene.png');
  await sharp(scene.rgb, { raw: { width: W, height: H, channels: 3 } }).png().toFile(photoFile);
  labelsFile = path.join(tmp, 'labels.txt');
  await fs.writeFile(labelsFile, [...'0123456789'.split(''), '__background__'].join('\n'));
  outDir = path.join(tmp, 'out');
  await fs.mkdir(outDir);
  service = await createAppService({ userDataDir: path.join(tmp, 'user'), engine: { backend: 'wasm', workers: 2 }, cacheDir: null });
}, 120_000);
afterAll(async () => {
  await service?.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('the window\'s picture and "Export photo…"', () => {
  it('are the same pixels and the same class, with __background__ labels and a scale switched off', async () => {
    piniaWith(serviceApi(service));
    const model = useModelStore();
    const photos = usePhotosStore();
    const scores = useScoresStore();
    const view = useViewStore();
    const batch = useBatchStore();

    expect(scores.setCustom('1, 0.75')).toBeNull();
    await model.load(null, { labelsFile });
    expect(model.labels[10]).toBe('__background__');
    await photos.add([photoFile]);
    await until(() => scores.keptMaps.length === 2, 'both scales');
    scores.toggleScale(0.75);
    view.classChoice = 'top';
    view.view = 'absolute';
    batch.legend = false;
    batch.exportBoxes = false;
    batch.scoresJson = true;
    await settle();
    expect(scores.keptMaps.map((m) => m.scale)).toEqual([1]);

    const photo = await sharp(photoFile).removeAlpha().raw().toBuffer();
    // Smooth (the default) and flat cells: the export draws what the window's toggle shows.
    for (const smooth of [true, false]) {
      view.smooth = smooth;
      await settle();
      // The window: its overlay raster (PhotoView paints view.overlaySource at the photo's size) at the
      // view's opacity over the photo.
      const src = view.overlaySource;
      expect(src).not.toBeNull();
      const overlay = paintView(src as NonNullable<typeof src>, { width: W, height: H, opacity: view.opacity, colormap: view.colormap, smooth: view.smooth });
      const windowPicture = blendOverRgb(photo, overlay, W, H);
      const windowClass = model.labels[view.drawnClass as number];
      expect(windowClass).not.toBe('__background__');

      const result = await batch.exportPhotos('current');
      expect(result?.failed).toEqual([]);
      const png = result?.outputs.find((f) => f.endsWith('.png')) as string;
      const exported = await sharp(png).raw().toBuffer();
      expect(exported.length).toBe(windowPicture.length);
      expect({ smooth, same: Buffer.compare(exported, Buffer.from(windowPicture)) === 0 }).toEqual({ smooth, same: true });
      // The class the export drew, from its scores file.
      const json = JSON.parse(await fs.readFile(result?.outputs.find((f) => f.endsWith('.scores.json')) as string, 'utf8')) as { class: { label: string } };
      expect(json.class.label).toBe(windowClass);
    }
  }, 240_000);
});
