/**
 * End-to-end, issue 12: what a new user sees, on the real services in headless Chromium. First
 * launch; then a 224-window model (the corpus's Teachable Machine waste classifier, no background
 * class) on a 451×300 photo: its own scales (all with cells), its top class, no stale class index;
 * the toolbar at the 720-px minimum width; the export. Screenshots go to tmp/ for a person to look at.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BridgeServer } from './bridge-server';
import { haveChromium } from './chromium';
import { openE2eWindow, type E2eWindow } from './harness';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CORPUS = path.resolve(ROOT, '../shared/corpus');
const MODEL = path.join(CORPUS, 'models/teachablemachine_waste12_valber');
const PHOTO = path.join(CORPUS, 'images/skimage_chelsea.png');
const ready = haveChromium && existsSync(MODEL) && existsSync(PHOTO);
if (!ready) console.log('[e2e defaults] skipped: needs /usr/bin/chromium and ../shared/corpus');

describe.skipIf(!ready)('defaults a new user sees, in a browser on the real services', () => {
  let dir: string;
  let outDir: string;
  let win: E2eWindow;
  let server: BridgeServer;
  let page: Page;
  const shots = path.join(ROOT, 'tmp');
  const waitFor = (expression: string, timeoutMs?: number): Promise<void> => win.waitFor(expression, timeoutMs);
  const text = async (sel: string): Promise<string> => (await page.locator(sel).innerText()).trim();

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'convmap-e2e-defaults-'));
    outDir = path.join(dir, 'exports');
    mkdirSync(outDir);
    const folder = path.join(dir, 'folder');
    mkdirSync(folder);
    for (const f of ['skimage_coffee.png', 'skimage_astronaut.png']) copyFileSync(path.join(CORPUS, 'images', f), path.join(folder, f));
    mkdirSync(shots, { recursive: true });
    win = await openE2eWindow(dir, { dialogs: { model: MODEL, photos: [PHOTO], folders: [path.join(dir, 'folder')], exportDir: outDir } });
    ({ server, page } = win);
  });

  afterAll(async () => {
    await win?.close();
  });

  const overlayReady = (cls: string): string => `(() => { const c = document.querySelector('canvas[data-testid="overlay"]'); return !!c && c.dataset.ready === 'true' && c.dataset.class === '${cls}'; })()`;

  it('first launch: the demo, its grade in a sentence, the export buttons on screen at 1400×860', async () => {
    await waitFor(overlayReady('any'));
    await waitFor(`document.querySelector('.status')?.textContent?.includes('Ready')`);
    expect(await text('[data-testid="grade"] .badge')).toBe('exact');
    await page.click('[role="tab"][data-tab="batch"]');
    const exportButton = await page.locator('button[aria-label="Export current photo"]').boundingBox();
    expect(exportButton && exportButton.y + exportButton.height).toBeLessThanOrEqual(860);
    await page.click('[role="tab"][data-tab="model"]');
    await page.screenshot({ path: path.join(shots, 'e2e-first-launch.png') });
  });

  it('a 224-window model on a 451×300 photo: its own scales, all with cells, and its class map', async () => {
    await page.click('button:has-text("Open photos…")');
    await page.waitForSelector('button.thumb[aria-label^="skimage_chelsea.png"]');
    await page.click('button[aria-label="Open model"]');
    await waitFor(`document.querySelector('.name strong')?.textContent === 'teachablemachine_waste12_valber'`, 180_000);
    await waitFor(overlayReady('top'), 180_000);
    await waitFor(`document.querySelector('.status')?.textContent?.includes('Ready')`);
    // No background label: the class map is shown (which class wins where), "any" says what it is not,
    // and a class chosen in the list is drawn alone (hand-worked scales in test/core/defaults.test.ts).
    expect(await page.locator('canvas[data-testid="overlay"]').getAttribute('data-view')).toBe('classes');
    expect(await page.locator('[data-testid="map-view"] button[aria-pressed="true"]').innerText()).toBe('classes');
    expect(await text('[data-testid="classes"] [data-class="any"] .label')).toBe('any (where a class stands out)');
    expect(await text('[data-testid="legend"] .legend-title')).toBe('class map: winning class per cell');
    expect(await page.locator('.chips .chip').allInnerTexts()).toEqual(['×0.747', '×0.864', '×1']);
    expect(await page.locator('[data-testid="empty-scales"]').count()).toBe(0);
    // Objects from the photo's 300-px side down to the 224 window at scale 1: 0.747 → 224×337: 1×4 cells;
    // 0.864 → 259×390: 2×6; 1 → 300×451: 3×8.
    expect(await text('section[aria-labelledby="scales-h"] .info')).toMatch(/^1×4 · 2×6 · 3×8 cells/);
    expect(await text('[data-testid="grade"] .badge')).toMatch(/^(exact|close|approximate|not representative)$/);
    await page.screenshot({ path: path.join(shots, 'e2e-224-window-small-photo.png') });
  }, 400_000);

  it('the toolbar neither wraps nor clips at the 720-px minimum width', async () => {
    await page.setViewportSize({ width: 720, height: 600 });
    await page.waitForTimeout(200);
    const boxes = await page.locator('header.toolbar > button').evaluateAll((els) => els.map((e) => { const r = e.getBoundingClientRect(); return [r.top, r.right]; }));
    expect(new Set(boxes.map((b) => Math.round(b[0]))).size).toBe(1);
    expect(Math.max(...boxes.map((b) => b[1]))).toBeLessThanOrEqual(720);
    await page.screenshot({ path: path.join(shots, 'e2e-720px.png') });
    await page.setViewportSize({ width: 1400, height: 860 });
  });

  it('a folder runs in the background and the grid lists each photo with its status and top class', async () => {
    await page.click('button:has-text("Open folder…")');
    await waitFor(`[...document.querySelectorAll('button.thumb')].filter((b) => b.dataset.status === 'done').length >= 2`, 180_000);
    await page.click('[data-testid="grid-toggle"]');
    await page.waitForSelector('[data-testid="batch-grid"] tbody tr');
    await page.click('[data-testid="batch-grid"] [data-sort="status"]');
    const rows = await page.locator('[data-testid="batch-grid"] tbody tr').allInnerTexts();
    expect(rows.length).toBeGreaterThanOrEqual(4);
    expect(rows.filter((r) => /\bdone\b/.test(r)).length).toBeGreaterThanOrEqual(2);
    await page.screenshot({ path: path.join(shots, 'e2e-batch-grid.png') });
    await page.click(`[data-testid="batch-grid"] tbody tr:has-text("skimage_chelsea.png")`);
    await page.waitForSelector('[data-testid="viewport"]');
  }, 400_000);

  it('exports the photo with the class shown, at full size', async () => {
    await page.click('button[aria-label="Export current photo"]');
    await waitFor(`(document.querySelector('[data-testid="export-last"]')?.textContent ?? '').includes('Exported 1 PNG')`);
    const files = (await fs.readdir(outDir)).filter((f) => f.endsWith('.png'));
    expect(files).toHaveLength(1);
    const meta = await sharp(path.join(outDir, files[0])).metadata();
    expect([meta.width, meta.height]).toEqual([451, 300]);
    copyFileSync(path.join(outDir, files[0]), path.join(shots, 'e2e-export.png'));
    await page.screenshot({ path: path.join(shots, 'e2e-after-export.png') });
    expect(server.serverErrors).toEqual([]);
    expect(win.pageErrors).toEqual([]);
  });
});
