import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useWasm } from '../helpers/models';
import { runCli, smallTfjsModel, writeTfjsModel, type TfjsModelFiles } from './bad-inputs';

/**
 * A model.json whose topology declares far bigger layers than its weight files hold: tfjs builds
 * every layer with its initial weights before the saved ones are compared, so the declared sizes
 * must cost address space only (zero pages), not memory, until the mismatch is refused.
 */

/** The CLI's own footprint plus headroom; the declared head alone would take 1.27 GB. */
const RSS_BOUND_KIB = 500 * 1024;

let root = '';
let files: TfjsModelFiles;
let runs = 0;

beforeAll(async () => {
  await useWasm();
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-sec-declared-'));
  files = await smallTfjsModel();
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

type Layer = { class_name: string; config: Record<string, unknown> };

/** The small model with a 400×400 input and a 1000-unit head: 398·398·2 · 1000 floats = 1.27 GB declared, 0.5 KB in the file. */
async function inflated(): Promise<string> {
  const json = structuredClone(files.json);
  const layers = ((json.modelTopology as { config: { layers: Layer[] } }).config.layers);
  for (const l of layers) {
    if (Array.isArray(l.config.batch_input_shape)) l.config.batch_input_shape = [null, 400, 400, 1];
    if (l.class_name === 'Dense') l.config.units = 1000;
  }
  return writeTfjsModel(path.join(root, `inflated-${++runs}`), { ...files, json });
}

describe('declared layer sizes cost no memory before the weights are compared', () => {
  for (const backend of ['wasm', 'cpu'] as const) {
    it(`convert on ${backend}: one line naming the file and the layer, peak RSS near the CLI's own`, async () => {
      const model = await inflated();
      const r = await runCli(['convert', model, '-o', path.join(root, `out-${runs}`)], { timeoutS: 120, timeFile: path.join(root, `time-${runs}.txt`), env: { CONVMAP_BACKEND: backend } });
      expect(r.timedOut).toBe(false);
      expect(r.code).toBe(1);
      const own = r.stderr.split('\n').filter((l) => l.startsWith('convmap:'));
      expect(own).toHaveLength(1);
      expect(own[0]).toContain(model);
      expect(own[0]).toMatch(/head/);
      if (r.maxRssKiB === null) return console.log('peak RSS not measured: /usr/bin/time is absent');
      console.log(`${backend}: peak RSS ${Math.round(r.maxRssKiB / 1024)} MiB; ${own[0]}`);
      expect(r.maxRssKiB).toBeLessThan(RSS_BOUND_KIB);
    }, 150_000);
  }

  it('heatmap with a converted folder whose FCN declares a 1.2 GB head: refused in one line, peak RSS near the CLI\'s own', async () => {
    const model = await writeTfjsModel(path.join(root, 'classifier'), files);
    const out = path.join(root, 'converted');
    const conv = await runCli(['convert', model, '-o', out], { timeoutS: 120, timeFile: path.join(root, 'time-convert.txt') });
    expect(conv.code).toBe(0);
    const file = path.join(out, 'model.json');
    const json = JSON.parse(await fs.readFile(file, 'utf8')) as { modelTopology: { config: { layers: Layer[] } } };
    const head = json.modelTopology.config.layers.filter((l) => l.class_name === 'Conv2D').pop() as Layer;
    // 50·50·2·60000 floats = 1.2 GB declared; the file still holds the 6·6·2·3 kernel.
    Object.assign(head.config, { kernel_size: [50, 50], filters: 60000 });
    await fs.writeFile(file, JSON.stringify(json));
    // A converted folder whose sidecar records its activations' size opens from its model.onnx and
    // never builds model.json's topology; without that record (folders of older versions, or one
    // edited by hand) model.json is what is built, and its declared head must cost nothing.
    const sidecar = path.join(out, 'convmap.json');
    const { activationBytesPerPixel: _bytes, ...older } = JSON.parse(await fs.readFile(sidecar, 'utf8')) as Record<string, unknown>;
    await fs.writeFile(sidecar, JSON.stringify(older));
    const photo = path.join(root, 'photo.png');
    await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 200, g: 100, b: 50 } } }).png().toFile(photo);
    const r = await runCli(['heatmap', photo, '--model', out, '--out', path.join(root, 'maps')], { timeoutS: 120, timeFile: path.join(root, 'time-heatmap.txt'), env: { CONVMAP_BACKEND: 'auto' } });
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(1);
    const own = r.stderr.split('\n').filter((l) => l.startsWith('convmap:'));
    expect(own).toHaveLength(1);
    expect(own[0]).toContain(out);
    if (r.maxRssKiB === null) return console.log('peak RSS not measured: /usr/bin/time is absent');
    console.log(`heatmap: peak RSS ${Math.round(r.maxRssKiB / 1024)} MiB; ${own[0]}`);
    expect(r.maxRssKiB).toBeLessThan(RSS_BOUND_KIB);
  }, 250_000);
});
