/**
 * Other frameworks' model files, opened as a user would open them (prepareModel: the window's and the
 * CLI's way in; the heatmap command's first argument): each refused in one line that names the file,
 * says what it is and what to open instead. The PyTorch files are written by Debian's python3-torch
 * (torch.save in both of its formats, torch.jit.save); the others are made byte by byte after their formats' specifications.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { zipSync } from 'fflate';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { resolveHeatmapInputs } from '../../main/cli/inputs';
import { prepareModel } from '../../main/services/models';
import { tempDir } from '../helpers/temp-dir';
import { REPO } from '../helpers/cli';

const PYTHON = '/usr/bin/python3';
const dir = tempDir('convmap-foreign-');
const corpus = path.resolve(REPO, '../shared/corpus/models');

function torchMissing(): string | null {
  try {
    execFileSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' });
    return null;
  } catch {
    return `${PYTHON} with torch is not installed (Debian: python3-torch)`;
  }
}
const noTorch = torchMissing();
if (noTorch) console.log(`skipped: the PyTorch files' refusals (${noTorch})`);
const noCorpus = existsSync(corpus) ? null : 'the shared corpus (../shared/corpus) is not here';
if (noCorpus) console.log(`skipped: the Teachable Machine downloads' refusals (${noCorpus})`);

/** prepareModel's refusal of `target`, as one line. */
async function refusal(target: string): Promise<string> {
  const err = await prepareModel(target).then(() => undefined, (e: unknown) => e as Error);
  expect(err, `${target} was opened`).toBeInstanceOf(Error);
  const message = (err as Error).message;
  expect(message.split('\n')).toHaveLength(1);
  return message;
}

/** The folder's files as a zip's bytes, each under its own name. */
async function zipOf(folder: string): Promise<Uint8Array> {
  const files: Record<string, Uint8Array> = {};
  for (const name of await fs.readdir(folder)) files[name] = new Uint8Array(await fs.readFile(path.join(folder, name)));
  return zipSync(files);
}

describe('other frameworks\' model files', () => {
  it.skipIf(noTorch !== null)('a PyTorch checkpoint (torch.save, zip and legacy pickle) and a TorchScript program: what each is, and to export ONNX', async () => {
    const script = [
      'import sys, torch, torch.nn as nn',
      'm = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 30 * 30, 2)).eval()',
      'd = sys.argv[1]',
      'torch.save(m.state_dict(), d + "/state.pth")',
      'torch.save(m.state_dict(), d + "/legacy.pth", _use_new_zipfile_serialization=False)',
      'torch.jit.save(torch.jit.trace(m, torch.rand(1, 3, 32, 32)), d + "/scripted.pt")',
    ].join('\n');
    execFileSync(PYTHON, ['-c', script, dir.path], { stdio: 'ignore' });
    const state = path.join(dir.path, 'state.pth');
    expect(await refusal(state)).toBe(`${state}: is a PyTorch checkpoint (torch.save): it holds weights, not the network that uses them; export the classifier to ONNX (torch.onnx.export(model.eval(), torch.rand(1, 3, H, W), "model.onnx")) and open that file`);
    const legacy = path.join(dir.path, 'legacy.pth');
    expect(await refusal(legacy)).toMatch(new RegExp(`^${legacy}: is a Python pickle \\(PyTorch's torch\\.save before 1\\.6, or another library's\\): .*export the classifier to ONNX`));
    const scripted = path.join(dir.path, 'scripted.pt');
    expect(await refusal(scripted)).toMatch(new RegExp(`^${scripted}: is a TorchScript program \\(torch\\.jit\\.save\\): Convmap reads ONNX graphs, not TorchScript; export the classifier to ONNX`));
    // As the heatmap command's first argument, where a photo could stand.
    const photo = path.join(dir.path, 'photo.png');
    await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).png().toFile(photo);
    await expect(resolveHeatmapInputs([state, photo], undefined, false)).rejects.toThrow(/state\.pth: looks like PyTorch weights \(\.pth\): they hold no network Convmap can read; export the classifier to ONNX/);
  }, 60_000);

  it.skipIf(noCorpus !== null)('Teachable Machine\'s downloads, zipped as it gives them, open as the model: its labels (metadata.json, labels.txt) and size, the zip as its source', async () => {
    const tmFolder = path.join(corpus, 'teachablemachine_korean5_00sky0213');
    const tfjs = path.join(dir.path, 'tm-my-image-model.zip');
    await fs.writeFile(tfjs, await zipOf(tmFolder));
    const metadata = JSON.parse(await fs.readFile(path.join(tmFolder, 'metadata.json'), 'utf8')) as { labels: string[]; imageSize: number };
    const opened = await prepareModel(tfjs);
    expect(opened.info.labels).toEqual(metadata.labels);
    expect(opened.info.window).toEqual([metadata.imageSize, metadata.imageSize]);
    expect(opened.info.source).toBe(tfjs);
    // The heatmap command takes the zip as its model.
    const photo = path.join(dir.path, 'grey.png');
    await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).png().toFile(photo);
    expect((await resolveHeatmapInputs([tfjs, photo], undefined, false)).modelPath).toBe(tfjs);

    const kerasFolder = path.join(corpus, 'teachablemachine_keras_water2_963n');
    const keras = path.join(dir.path, 'converted_keras.zip');
    await fs.writeFile(keras, await zipOf(kerasFolder));
    // labels.txt as Teachable Machine writes it: "0 name" per line.
    const lines = (await fs.readFile(path.join(kerasFolder, 'labels.txt'), 'utf8')).split('\n').filter((l) => l.trim() !== '').map((l) => l.trim().replace(/^\d+\s+/, ''));
    expect((await prepareModel(keras)).info.labels).toEqual(lines);
  }, 120_000);

  it('a zipped model whose entries name folders above it is unpacked inside its own folder only; a refusal inside names the zip', async () => {
    const evil = path.join(dir.path, 'evil.zip');
    await fs.writeFile(evil, zipSync({ '../../escaped/model.json': Buffer.from('{"modelTopology": 3}'), '../../escaped/labels.txt': Buffer.from('a\n') }));
    const message = await refusal(evil);
    expect(message.startsWith(`${evil}: model.json: `)).toBe(true);
    expect(existsSync(path.resolve(os.tmpdir(), '..', 'escaped'))).toBe(false);
    expect(existsSync(path.resolve(dir.path, '..', '..', 'escaped'))).toBe(false);
  });

  it('TensorFlow Lite (TFL3 at byte 4), safetensors (header length, then its JSON), a SavedModel folder: each named, with what to open instead', async () => {
    // A FlatBuffer: a 4-byte root offset, then the file identifier "TFL3" (TensorFlow Lite's schema).
    const tflite = path.join(await dir.folder('tm-lite', { 'model_unquant.tflite': Uint8Array.from([0x1c, 0, 0, 0, 0x54, 0x46, 0x4c, 0x33, 0, 0, 0, 0]), 'labels.txt': '0 a\n1 b\n' }), 'model_unquant.tflite');
    expect(await refusal(tflite)).toMatch(new RegExp(`^${tflite}: is a TensorFlow Lite model: .*Teachable Machine: Export Model → TensorFlow → Keras, or → TensorFlow\\.js.*--tflite`));
    // The folder Teachable Machine's TensorFlow Lite download unzips to: the one foreign file named.
    expect(await refusal(path.dirname(tflite))).toMatch(/tm-lite: holds model_unquant\.tflite, which is a TensorFlow Lite model: /);
    const header = Buffer.from(JSON.stringify({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }));
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(header.length));
    const safetensors = path.join(dir.path, 'model.safetensors');
    await fs.writeFile(safetensors, Buffer.concat([length, header, Buffer.alloc(8)]));
    expect(await refusal(safetensors)).toMatch(new RegExp(`^${safetensors}: is a safetensors file: it holds weights, not the network that uses them; export the classifier to ONNX`));
    const saved = await dir.folder('saved', { 'saved_model.pb': Uint8Array.from([8, 1]), 'fingerprint.pb': '' });
    await fs.mkdir(path.join(saved, 'variables'));
    expect(await refusal(saved)).toBe(`${saved}: is a TensorFlow SavedModel folder: Convmap does not read SavedModels; save the classifier from Keras (model.save("model.keras")) or convert it to ONNX (python -m tf2onnx.convert) and open that file`);
  });

  it('a zip of photos (dropped onto the window, where a zip is taken as a model) says so', async () => {
    const zip = path.join(dir.path, 'holiday.zip');
    await fs.writeFile(zip, zipSync({ 'holiday/a.jpg': new Uint8Array([1]), 'holiday/b.PNG': new Uint8Array([2]), 'holiday/notes.txt': new Uint8Array([3]) }));
    expect(await refusal(zip)).toBe(`${zip}: is a zip of 2 photos, not of a model: unzip it and open the folder as photos`);
  });

  it('a folder or zip of none of these keeps its own reason', async () => {
    const empty = await dir.folder('nothing', { 'notes.txt': 'hello' });
    expect(await refusal(empty)).toBe(`${empty}: folder holds no model.json (a TensorFlow.js Layers model: model.json + weight shards) nor a Keras .keras/.h5 file nor an .onnx file`);
    const zip = path.join(dir.path, 'other.keras');
    await fs.writeFile(zip, zipSync({ 'a.txt': new Uint8Array([1]) }));
    expect(await refusal(zip)).toBe(`${zip}: is a zip archive without config.json: not a Keras 3 .keras model (it holds a.txt)`);
  });
});
