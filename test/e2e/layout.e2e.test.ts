/**
 * End-to-end, issue 12 items 9 and 17: what fits on screen, in headless Chromium on the real
 * services with the built-in model. At 1280×720 and 1400×860 the batch controls, the export buttons
 * and the result lines lie inside the window (bounding boxes), the conversion report is one summary
 * line with its details folded, the hover top-5 is a tooltip by the pointer, the heatmap panel's
 * controls down to Boxes are on screen without scrolling (issue 25 item 3); at the 720-px minimum
 * width the toolbar is one row. "Run batch → folder" computes and exports a folder in one click,
 * and "Show in folder" asks main to show the PNG it wrote. Screenshots go to tmp/.
 */
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { averageScoreMaps } from '../../core/average';
import { DEFAULT_RECIPE } from '../../core/recipe';
import { makeDigitScene } from '../../main/digits/scene';
import { DEMO_PRESET_ID, SCALE_PRESETS } from '../../renderer/scales';
import type { AppService } from '../../main/services/window/app-service';
import type { BridgeServer } from './bridge-server';
import { haveChromium } from './chromium';
import { openE2eWindow, type E2eWindow } from './harness';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SHOTS = path.join(ROOT, 'tmp');

describe.skipIf(!haveChromium)('the window at 1280×720, 1400×860 and 720 px wide, in a browser on the real services', () => {
  let dir: string;
  let outDir: string;
  let win: E2eWindow;
  let page: Page;
  let service: AppService;
  let server: BridgeServer;
  const waitFor = (expression: string, timeoutMs?: number): Promise<void> => win.waitFor(expression, timeoutMs);

  /** The element's box, which must be visible and lie wholly inside the width × height window. */
  async function inside(selector: string, width: number, height: number): Promise<void> {
    const box = await page.locator(selector).first().boundingBox();
    expect(box, `${selector} is not shown`).not.toBeNull();
    if (!box) return;
    expect(box.width * box.height, `${selector} has no area`).toBeGreaterThan(0);
    expect([box.x >= 0, box.y >= 0, box.x + box.width <= width, box.y + box.height <= height], `${selector} at ${JSON.stringify(box)} in ${width}×${height}`).toEqual([true, true, true, true]);
  }

  /** The element is drawn whole where it lies: what the page shows just inside its left and right edges is the element itself (not clipped by a scrolling parent). */
  async function unclipped(selector: string): Promise<void> {
    const hits = await page.locator(selector).first().evaluate((el) => {
      const r = el.getBoundingClientRect();
      const y = r.top + r.height / 2;
      return [r.left + 2, r.right - 2].map((x) => el.contains(el.ownerDocument.elementFromPoint(x, y)));
    });
    expect(hits, `${selector} is cut`).toEqual([true, true]);
  }

  const STRIP_BUTTONS = ['button[aria-label="Open photos"]', '[data-testid="grid-toggle"]', 'button[aria-label="Open a folder"]'];

  const BATCH_AND_EXPORT = [
    '[data-testid="batch"] button[aria-label="Open folders"]',
    'button[aria-label="Process all photos"]',
    '[data-testid="batch-counts"]',
    '[data-testid="batch-last"]',
    '#export-class',
    '[data-testid="export-boxes"]',
    'button[aria-label="Export all photos"]',
    'button[aria-label="Export current photo"]',
    '[data-testid="export-last"]',
    '[data-testid="show-in-folder"]',
  ];

  /** The heatmap panel's controls, top to bottom (a newcomer had to scroll the panel to reach Boxes at 1280×720). */
  const HEATMAP_CONTROLS = ['[data-testid="classes"]', '[data-testid="map-view"]', '#colormap', '[data-testid="ramp"]', '#opacity', '#threshold', '#legend', '#detections', '#det-threshold'];

  /** Every heatmap control lies whole inside the window, the right-hand panel unscrolled, and the class list keeps about four rows. */
  async function heatmapControlsOnScreen(width: number, height: number): Promise<void> {
    expect(await page.locator('aside.right').evaluate((el) => el.scrollTop)).toBe(0);
    for (const sel of HEATMAP_CONTROLS) {
      await inside(sel, width, height);
      await unclipped(sel);
    }
    const list = await page.locator('[data-testid="classes"]').boundingBox();
    const row = await page.locator('[data-testid="classes"] [role="option"]').first().boundingBox();
    expect(list && row && list.height >= 4 * row.height - 1, `class list ${JSON.stringify(list)}, row ${JSON.stringify(row)}`).toBe(true);
  }

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'convmap-e2e-layout-'));
    const photosDir = path.join(dir, 'photos');
    outDir = path.join(dir, 'exports');
    mkdirSync(photosDir, { recursive: true });
    mkdirSync(SHOTS, { recursive: true });
    // Four photos and the demo scene: five in the strip, as a newcomer had when its buttons were cut.
    for (let i = 1; i <= 4; i++) {
      const s = makeDigitScene({ width: 320, height: 240, count: 3, sizes: [28, 42], seed: 500 + i });
      await sharp(s.rgb, { raw: { width: s.width, height: s.height, channels: 3 } }).png().toFile(path.join(photosDir, `scene-${i}.png`));
    }
    win = await openE2eWindow(dir, { dialogs: { folders: [photosDir], exportDir: outDir }, viewport: { width: 1280, height: 720 } });
    ({ page, service, server } = win);
    await waitFor(`document.querySelector('canvas[data-testid="overlay"]')?.dataset.ready === 'true'`);
    await waitFor(`document.querySelector('.status')?.textContent?.includes('Ready')`);
  });

  afterAll(async () => {
    await win?.close();
  });

  it('1280×720: the conversion report is a summary line with its details folded; the top-5 follows the pointer inside the window', async () => {
    await inside('[data-testid="report-summary"]', 1280, 720);
    expect(await page.locator('[data-testid="conversion"] details').getAttribute('open')).toBeNull();
    expect(await page.locator('[data-testid="report"]').isVisible()).toBe(false);
    const stage = await page.locator('[data-testid="stage"]').boundingBox();
    if (!stage) throw new Error('no photo on the stage');
    // Near the bottom-right corner of the photo: the tooltip flips to stay inside the viewport.
    await page.mouse.move(stage.x + stage.width * 0.9, stage.y + stage.height * 0.9);
    await page.waitForSelector('[data-testid="hover-tip"]');
    expect(await page.locator('[data-testid="hover-tip"] .tip-row').count()).toBe(5);
    const viewport = await page.locator('[data-testid="viewport"]').boundingBox();
    const tip = await page.locator('[data-testid="hover-tip"]').boundingBox();
    if (!viewport || !tip) throw new Error('no viewport or tooltip');
    expect(tip.x).toBeGreaterThanOrEqual(viewport.x);
    expect(tip.y).toBeGreaterThanOrEqual(viewport.y);
    expect(tip.x + tip.width).toBeLessThanOrEqual(viewport.x + viewport.width);
    expect(tip.y + tip.height).toBeLessThanOrEqual(viewport.y + viewport.height);
    await page.screenshot({ path: path.join(SHOTS, 'e2e-1280x720-model.png') });
    // The chosen class keeps its own colour under the pointer; another row hovered looks different from it.
    const bg = async (sel: string, hover: boolean): Promise<string> => {
      if (hover) await page.locator(sel).first().hover();
      else await page.mouse.move(5, 400);
      return page.locator(sel).first().evaluate((el) => el.ownerDocument.defaultView?.getComputedStyle(el).backgroundColor ?? '');
    };
    const chosen = '[data-testid="classes"] [role="option"][aria-selected="true"]';
    const other = '[data-testid="classes"] [role="option"][aria-selected="false"]';
    const [chosenStill, chosenHovered, otherHovered] = [await bg(chosen, false), await bg(chosen, true), await bg(other, true)];
    expect(chosenHovered).not.toBe(otherHovered);
    const blue = (css: string): boolean => { const [r, g, b] = (css.match(/\d+/g) ?? []).map(Number); return b > r + 60 && b > g; };
    expect([blue(chosenStill), blue(chosenHovered), blue(otherHovered)]).toEqual([true, true, false]);
    await page.mouse.move(5, 400);
  });

  it('1280×720: a folder, then one "Run batch → folder" click computes and exports it; the controls and result lines are on screen; Show in folder shows the PNG written', async () => {
    await page.click('header.toolbar button:has-text("Open folder…")');
    // The queue brings the batch tab forward.
    await waitFor(`document.querySelector('[role="tab"][data-tab="batch"]')?.getAttribute('aria-selected') === 'true'`);
    await waitFor(`[...document.querySelectorAll('button.thumb')].filter((b) => b.dataset.status === 'done').length === 4`, 180_000);
    await waitFor(`!!document.querySelector('[data-testid="batch-last"]')`);
    await page.click('button[aria-label="Export all photos"]');
    await waitFor(`(document.querySelector('[data-testid="export-last"]')?.textContent ?? '').includes('Exported 4 PNGs to exports')`, 180_000);
    const pngs = (await fs.readdir(outDir)).filter((f) => f.endsWith('.png')).sort();
    // The folder's photos; the demo scene shown at start is not the user's.
    expect(pngs).toEqual([1, 2, 3, 4].map((i) => `scene-${i}.heatmap.png`));
    expect(await sharp(path.join(outDir, 'scene-1.heatmap.png')).metadata()).toMatchObject({ width: 320, height: 240 });
    for (const sel of BATCH_AND_EXPORT) await inside(sel, 1280, 720);
    // Five photos in the strip: its buttons stay whole at its right edge (a newcomer saw "+ Folde").
    for (const sel of STRIP_BUTTONS) {
      await inside(sel, 1280, 720);
      await unclipped(sel);
    }
    // And the heatmap panel, Boxes row included, without scrolling it; so with boxes on (their count line below).
    await heatmapControlsOnScreen(1280, 720);
    await page.check('#detections');
    await heatmapControlsOnScreen(1280, 720);
    await page.uncheck('#detections');
    await page.screenshot({ path: path.join(SHOTS, 'e2e-1280x720.png') });

    // The result line's tooltip lists what the export wrote, in the order photos finished.
    const written = ((await page.locator('[data-testid="export-last"]').getAttribute('title')) ?? '').split('\n');
    expect(written.map((f) => path.basename(f)).sort()).toEqual(pngs);
    await page.click('[data-testid="show-in-folder"]');
    for (let i = 0; i < 50 && server.shown.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    // The first PNG written, in the export folder, selected in the file manager.
    expect(server.shown).toEqual([written[0]]);
    expect(path.dirname(server.shown[0])).toBe(outDir);
    expect(existsSync(server.shown[0])).toBe(true);
  });

  it('the grid ranks the folder by a chosen digit: each photo\'s highest score of it, as the averaged maps of computeScores give it', async () => {
    await page.click('[data-testid="grid-toggle"]');
    await page.waitForSelector('[data-testid="batch-grid"] tbody tr');
    const k = 7;
    await page.selectOption('[data-testid="rank-class"]', String(k));
    const rows = await page.locator('[data-testid="batch-grid"] tbody tr').evaluateAll((trs) => trs.map((tr) => [tr.getAttribute('data-photo') ?? '', tr.querySelector('[data-col="max"]')?.textContent?.trim() ?? '']));
    expect(rows).toHaveLength(5);
    // The demo scene, which neither the folder's queue nor its export computed, has no score and ranks last.
    const demoRow = rows.pop();
    expect(demoRow?.[1]).toBe('—');
    // Independently: the same photos' per-scale maps (the demo preset, the default mode), averaged here, maximum of class 7 over covered cells.
    const model = server.models.at(-1);
    if (!model) throw new Error('the page loaded no model');
    const scales = SCALE_PRESETS.find((p) => p.id === DEMO_PRESET_ID)?.scales ?? [];
    const want = await Promise.all(rows.map(async ([photoId]) => {
      const { maps } = await service.computeScores({ jobId: `rank-${photoId}`, modelId: model.id, photoId, scales });
      const avg = averageScoreMaps(maps, { mode: DEFAULT_RECIPE.mode });
      let best = -Infinity;
      for (let cell = 0; cell < avg.rows * avg.cols; cell++) if (avg.coverage[cell] > 0) best = Math.max(best, avg.scores[cell * avg.classes + k]);
      return best;
    }));
    expect(rows.map(([, shown]) => shown)).toEqual(want.map((v) => v.toFixed(3)));
    expect([...want].sort((a, b) => b - a)).toEqual(want);
    expect(await page.locator('[data-testid="batch-grid"] [data-sort="max"]').innerText()).toBe('max 7 ▼');
    await page.screenshot({ path: path.join(SHOTS, 'e2e-grid-ranked.png') });
    await page.click('[data-testid="grid-toggle"]');
  });

  it('1400×860: the same controls and result lines are on screen', async () => {
    await page.setViewportSize({ width: 1400, height: 860 });
    await page.waitForTimeout(200);
    for (const sel of BATCH_AND_EXPORT) await inside(sel, 1400, 860);
    await heatmapControlsOnScreen(1400, 860);
    await page.screenshot({ path: path.join(SHOTS, 'e2e-1400x860.png') });
    await page.click('[role="tab"][data-tab="model"]');
    await inside('[data-testid="report-summary"]', 1400, 860);
    await page.click('[role="tab"][data-tab="batch"]');
  });

  it('720 px wide: the toolbar and the tabs are one row each, nothing clipped; the batch controls still fit', async () => {
    await page.setViewportSize({ width: 720, height: 600 });
    await page.waitForTimeout(200);
    const bar = await page.locator('header.toolbar').boundingBox();
    expect(bar?.height).toBe(34);
    const rows = async (sel: string): Promise<number[][]> => page.locator(sel).evaluateAll((els) => els.map((e) => { const r = e.getBoundingClientRect(); return [r.top, r.bottom, r.left, r.right, e.scrollWidth - e.clientWidth]; }));
    const buttons = await rows('header.toolbar > button');
    expect(buttons.length).toBeGreaterThanOrEqual(5);
    expect(new Set(buttons.map((b) => Math.round(b[0]))).size).toBe(1);
    expect(Math.max(...buttons.map((b) => b[1]))).toBeLessThanOrEqual(34);
    expect(Math.max(...buttons.map((b) => b[3]))).toBeLessThanOrEqual(720);
    // Button labels are not cut inside their buttons either.
    expect(buttons.map((b) => b[4])).toEqual(buttons.map(() => 0));
    const tabs = await rows('[role="tab"]');
    expect(new Set(tabs.map((t) => Math.round(t[0]))).size).toBe(1);
    expect(tabs.map((t) => t[4])).toEqual([0, 0]);
    for (const sel of BATCH_AND_EXPORT) await inside(sel, 720, 600);
    // The batch panel's buttons keep their labels on one line (as tall as the toolbar's one-line buttons).
    const oneLine = Math.round(buttons[0][1] - buttons[0][0]);
    const heights = (await rows('[data-testid="batch"] button')).map((b) => Math.round(b[1] - b[0]));
    expect(heights.length).toBeGreaterThanOrEqual(5);
    expect(heights).toEqual(heights.map(() => oneLine));
    // So do the scale panel's button groups (Combine, Detail): a label on two lines reads as two options.
    const groups = (await rows('section[aria-labelledby="scales-h"] :is(.seg, .wrap)[role="group"] button')).map((b) => Math.round(b[1] - b[0]));
    expect(groups.length).toBeGreaterThanOrEqual(5);
    expect(groups).toEqual(groups.map(() => oneLine));
    await page.screenshot({ path: path.join(SHOTS, 'e2e-720px-batch.png') });
    expect(server.serverErrors).toEqual([]);
    expect(win.pageErrors).toEqual([]);
  });
});
