import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { averageScoreMaps } from '../../core/average';
import type { ScoreMap } from '../../core/scoremap';
import { renderPicture, type PictureInput, type PictureStyle } from '../../main/services/picture';
import { createPictureRenderer } from '../../main/services/threads/picture-thread';

const LABELS = ['cat', 'dog', 'background'];
const STYLE: PictureStyle = { colormap: 'viridis', opacity: 0.6, threshold: 0.1, smooth: true, boxes: true, legend: true };

function photoResult(): PictureInput {
  const width = 96;
  const height = 64;
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37) % 251;
  const rows = (height - 16) / 8 + 1;
  const cols = (width - 16) / 8 + 1;
  const scores = new Float32Array(rows * cols * 3);
  for (let c = 0; c < rows * cols; c++) scores.set([c / (rows * cols), 0.2, 0.1], c * 3);
  const map: ScoreMap = {
    scale: 1, imageSize: [height, width], scaledSize: [height, width], rows, cols, classes: 3, scores,
    geometry: { window: [16, 16], stride: [8, 8], offset: [0, 0] },
  };
  return { image: { data, width, height, channels: 3 }, averaged: averageScoreMaps([map], { mode: 'max' }), classIndex: 0, drawn: [] };
}

describe('picture rendering in worker threads (picture-thread)', () => {
  it('renders the same PNG pixels as renderPicture on the calling thread, and takes the photo\'s pixels instead of copying them', async () => {
    const renderer = createPictureRenderer(2);
    try {
      const here = await renderPicture(photoResult(), LABELS, STYLE);
      const result = photoResult();
      const there = await renderer.render(result, LABELS, STYLE);
      const a = await sharp(here).raw().toBuffer({ resolveWithObject: true });
      const b = await sharp(there).raw().toBuffer({ resolveWithObject: true });
      expect([b.info.width, b.info.height, b.info.channels]).toEqual([96, 64, 3]);
      expect(Buffer.compare(a.data, b.data)).toBe(0);
      // Moved to the worker, not cloned: the calling thread's copy is detached.
      expect(result.image.data.byteLength).toBe(0);
      // Several at once over both workers.
      const many = await Promise.all(Array.from({ length: 5 }, () => renderer.render(photoResult(), LABELS, STYLE)));
      for (const png of many) expect(Buffer.compare(png, there)).toBe(0);
    } finally {
      await renderer.close();
    }
    await expect(renderer.render(photoResult(), LABELS, STYLE)).rejects.toThrow(/closed/);
  });

  it('a render that fails in the worker rejects with its message and the worker keeps serving', async () => {
    const renderer = createPictureRenderer(1);
    try {
      const bad = photoResult();
      bad.image = { ...bad.image, width: 10 };
      await expect(renderer.render(bad, LABELS, STYLE)).rejects.toThrow();
      const ok = await renderer.render(photoResult(), LABELS, STYLE);
      expect((await sharp(ok).metadata()).width).toBe(96);
    } finally {
      await renderer.close();
    }
  });
});
