/**
 * End-to-end, issue 20 item 5: Hangul class names in the window are drawn with the shipped Noto Sans
 * KR, not as tofu boxes, in the heatmap panel's "top class" row and in the legend over the photo (in
 * headless Chromium both kept the fallback's boxes while the class list showed the same code points).
 * Oracle: each element's Hangul, cropped from a screenshot, against the same element re-rendered with
 * the Hangul replaced by a code point no font has (a known tofu rendering); and two different
 * syllables, which as tofu are the same box.
 */
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium } from './chromium';
import { openE2eWindow, type E2eWindow } from './harness';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CORPUS = path.resolve(ROOT, '../shared/corpus');
const MODEL = path.join(CORPUS, 'models/teachablemachine_korean5_00sky0213');
const ready = haveChromium && existsSync(MODEL);
if (!ready) console.log('[e2e korean] skipped: needs /usr/bin/chromium and ../shared/corpus');

/** Rectangle (page pixels) of the first run of Hangul syllables in the element's text, or null. */
async function hangulRect(page: Page, selector: string): Promise<{ x: number; y: number; width: number; height: number } | null> {
  return page.locator(selector).first().evaluate((el) => {
    const node = [...el.childNodes].find((n) => n.nodeType === 3 && /[\uAC00-\uD7A3]/.test(n.textContent ?? ''));
    const m = node ? /[\uAC00-\uD7A3]+/.exec(node.textContent ?? '') : null;
    if (!node || !m) return null;
    const range = el.ownerDocument.createRange();
    range.setStart(node, m.index);
    range.setEnd(node, m.index + m[0].length);
    const r = range.getBoundingClientRect();
    return { x: Math.floor(r.left), y: Math.floor(r.top), width: Math.ceil(r.width) + 1, height: Math.ceil(r.height) };
  });
}

async function grey(page: Page, clip: { x: number; y: number; width: number; height: number }): Promise<{ data: Buffer; width: number; height: number }> {
  const png = await page.screenshot({ clip });
  const { data, info } = await sharp(png).greyscale().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** Mean absolute difference (0–255) of two equally sized grey crops; 255 when their sizes differ. */
function meanDiff(a: { data: Buffer }, b: { data: Buffer }): number {
  if (a.data.length !== b.data.length) return 255;
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += Math.abs(a.data[i] - b.data[i]);
  return s / a.data.length;
}

describe.skipIf(!ready)('Hangul class names in the window, in a browser on the real services', () => {
  let win: E2eWindow;
  let page: Page;

  beforeAll(async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'convmap-e2e-korean-'));
    mkdirSync(path.join(ROOT, 'tmp'), { recursive: true });
    win = await openE2eWindow(dir, { dialogs: { model: MODEL } });
    ({ page } = win);
  });

  afterAll(async () => {
    await win?.close();
  });

  it('the top-class row and the legend draw Hangul glyphs, not tofu', async () => {
    await win.waitFor(`document.querySelector('canvas[data-testid="overlay"]')?.dataset.ready === 'true'`);
    await page.click('button[aria-label="Open model"]');
    await win.waitFor(`document.querySelector('.name strong')?.textContent === 'teachablemachine_korean5_00sky0213'`, 180_000);
    await win.waitFor(`(() => { const c = document.querySelector('canvas[data-testid="overlay"]'); return c?.dataset.ready === 'true' && c.dataset.class === 'top'; })()`, 180_000);
    // The absolute view of the top class: its name in the panel's row and as the legend's title.
    await page.click('[data-testid="map-view"] button:has-text("absolute")');
    await win.waitFor(`/[\\uAC00-\\uD7A3]/.test(document.querySelector('[data-testid="legend"] .legend-title')?.textContent ?? '')`);
    await page.waitForTimeout(500);
    await page.screenshot({ path: path.join(ROOT, 'tmp/e2e-korean-window.png') });
    for (const sel of ['[data-testid="classes"] [data-class="top"] .label', '[data-testid="legend"] .legend-title']) {
      const rect = await hangulRect(page, sel);
      expect(rect, `${sel} shows no Hangul`).not.toBeNull();
      if (!rect) continue;
      const shown = await grey(page, rect);
      // The same element with its Hangul swapped for a plane-16 private-use code point: what tofu looks like there.
      const original = await page.locator(sel).first().evaluate((el, pua) => {
        const before = el.textContent ?? '';
        el.textContent = before.replace(/[\uAC00-\uD7A3]/g, pua);
        return before;
      }, '\u{10FFFD}');
      await page.waitForTimeout(100);
      const tofuRect = await page.locator(sel).first().evaluate((el) => {
        const node = el.firstChild;
        if (!node) return { x: 0, y: 0, width: 1, height: 1 };
        const text = node.textContent ?? '';
        const i = text.indexOf('\u{10FFFD}');
        const range = el.ownerDocument.createRange();
        range.setStart(node, i);
        range.setEnd(node, text.lastIndexOf('\u{10FFFD}') + 2);
        const r = range.getBoundingClientRect();
        return { x: Math.floor(r.left), y: Math.floor(r.top), width: Math.ceil(r.width) + 1, height: Math.ceil(r.height) };
      });
      const tofu = await grey(page, { ...tofuRect, width: rect.width, height: rect.height });
      await page.locator(sel).first().evaluate((el, text) => { el.textContent = text; }, original);
      expect(meanDiff(shown, tofu), `${sel}: its Hangul looks like tofu`).toBeGreaterThan(4);
      if (rect.width > 4) {
        // Two different syllables side by side: as tofu they are the same box, as glyphs they differ.
        const half = Math.floor(rect.width / 2);
        const left = await grey(page, { ...rect, width: half });
        const right = await grey(page, { ...rect, x: rect.x + half, width: half });
        if (original.match(/[\uAC00-\uD7A3]{2}/) && new Set(original.match(/[\uAC00-\uD7A3]{2}/)?.[0]).size === 2) expect(meanDiff(left, right), `${sel}: two syllables drawn alike`).toBeGreaterThan(4);
      }
    }
    expect(win.pageErrors).toEqual([]);
  }, 400_000);

  it('the legend sits in the viewport corner matching the least painted corner of the overlay (issue 25 item 7)', async () => {
    // The overlay canvas's own alpha, summed over a third of each side in each corner: the least painted corner.
    const sums = await page.locator('canvas[data-testid="overlay"]').evaluate((c) => {
      // The tests' TypeScript has no DOM library: the canvas's shape, as far as this reads it.
      const canvas = c as unknown as { width: number; height: number; getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null };
      const { width: w, height: h } = canvas;
      const data = canvas.getContext('2d')?.getImageData(0, 0, w, h).data;
      const out: Record<string, number> = {};
      for (const corner of ['bottom-left', 'bottom-right', 'top-left', 'top-right']) {
        const x0 = corner.endsWith('left') ? 0 : w - Math.round(w / 3);
        const y0 = corner.startsWith('top') ? 0 : h - Math.round(h / 3);
        let sum = 0;
        for (let y = y0; y < y0 + Math.round(h / 3); y++) for (let x = x0; x < x0 + Math.round(w / 3); x++) sum += data?.[(y * w + x) * 4 + 3] ?? 0;
        out[corner] = sum / (Math.round(w / 3) * Math.round(h / 3) * 255);
      }
      return out;
    });
    const least = Object.entries(sums).sort((a, b) => a[1] - b[1])[0];
    const corner = await page.locator('[data-testid="legend"]').getAttribute('data-corner');
    // Only a clear winner says where it must go (corners painted alike may go either way).
    const second = Object.values(sums).sort((a, b) => a - b)[1];
    if (second - least[1] > 0.2) expect(corner, JSON.stringify(sums)).toBe(least[0]);
    expect(sums[corner ?? ''], JSON.stringify(sums)).toBeLessThanOrEqual(least[1] + 0.2);
    const legend = await page.locator('[data-testid="legend"]').boundingBox();
    const viewport = await page.locator('[data-testid="viewport"]').boundingBox();
    if (!legend || !viewport) throw new Error('no legend or viewport');
    const right = legend.x + legend.width / 2 > viewport.x + viewport.width / 2;
    const bottom = legend.y + legend.height / 2 > viewport.y + viewport.height / 2;
    expect(`${bottom ? 'bottom' : 'top'}-${right ? 'right' : 'left'}`).toBe(corner);
    await page.screenshot({ path: path.join(ROOT, 'tmp/e2e-korean-legend-corner.png') });
  });
});
