/**
 * End-to-end batch: the built renderer in headless Chromium on the REAL app service (engine, score
 * cache, export). The page opens a folder (the folder dialog is stubbed in the bridge, like the
 * photo dialog), the queue runs in the background with statuses in the photo strip, and overlays
 * are exported into a folder chosen in the (stubbed) export dialog.
 */
import { mkdirSync, mkdtempSync, copyFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import { haveChromium } from './chromium';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeDigitScene } from '../../main/digits/scene';
import type { BridgeServer } from './bridge-server';
import { openE2eWindow, type E2eWindow } from './harness';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const GOOD = 6;

describe.skipIf(!haveChromium)('the batch queue in a browser, on the real services', () => {
  let dir: string;
  let photosDir: string;
  let outDir: string;
  let win: E2eWindow;
  let server: BridgeServer;
  let page: Page;
  const strip = async (): Promise<string> => `strip: ${String(await page.evaluate(`[...document.querySelectorAll('button.thumb')].map((b) => b.getAttribute('aria-label').split(',')[0] + '=' + b.dataset.status).join(' ')`))}`;
  const waitFor = (expression: string, timeoutMs?: number): Promise<void> => win.waitFor(expression, timeoutMs, strip);

  const thumbsWith = (status: string): Promise<number> => page.locator(`button.thumb[data-status="${status}"]`).count();

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'convmap-e2e-batch-'));
    photosDir = path.join(dir, 'day 1');
    outDir = path.join(dir, 'exports');
    mkdirSync(photosDir, { recursive: true });
    for (let i = 1; i <= GOOD; i++) {
      const s = makeDigitScene({ width: 480, height: 360, count: 5, sizes: [28, 42, 56], seed: 100 + i });
      await sharp(s.rgb, { raw: { width: s.width, height: s.height, channels: 3 } }).png().toFile(path.join(photosDir, `scene-${i}.png`));
    }
    const jpeg = await sharp(path.join(photosDir, 'scene-1.png')).jpeg().toBuffer();
    await fs.writeFile(path.join(photosDir, 'truncated.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
    await fs.writeFile(path.join(photosDir, 'notes.png'), 'text, not a PNG');
    await fs.writeFile(path.join(photosDir, 'readme.txt'), 'hello');

    // The truncated JPEG's thumbnail cannot be shown: the browser logs that, it is expected.
    win = await openE2eWindow(dir, { dialogs: { folders: [photosDir], exportDir: outDir }, ignoreConsole: /Failed to load resource/ });
    ({ server, page } = win);
    await waitFor(`document.querySelector('canvas[data-testid="overlay"]')?.dataset.ready === 'true'`);
  });

  afterAll(async () => {
    await win?.close();
  });

  it('opens a folder through the dialog: the photos join the strip and the queue runs them in the background', async () => {
    await page.click('[role="tab"][data-tab="batch"]');
    await page.click('[data-testid="batch"] button[aria-label="Open folders"]');
    await page.waitForSelector('button.thumb[aria-label^="truncated.jpg"]');
    expect(await page.locator('button.thumb').count()).toBe(1 + GOOD + 1);
    expect(await page.locator('[data-testid="batch-counts"]').innerText()).toMatch(/1 unreadable · 1 other file skipped/);
    expect(await page.locator('.status').innerText()).toContain('notes.png: not a supported image');

    // Pause as soon as the queue shows, for a screenshot of it running.
    let pausedShot = false;
    if (await page.locator('[data-testid="batch-run"]').count() > 0) {
      await page.click('button[aria-label="Pause batch"]').catch(() => undefined);
      const paused = await page.waitForSelector('button[aria-label="Resume batch"]', { timeout: 5_000 }).then(() => true, () => false);
      if (paused) {
        await page.waitForTimeout(1500);
        await page.screenshot({ path: path.join(dir, 'batch-paused.png') });
        pausedShot = true;
        expect(await page.locator('[data-testid="batch-eta"]').innerText()).toContain('paused');
        expect(await page.locator('[data-testid="batch-progress"]').innerText()).toMatch(/^\d+\/7$/);
        await page.click('button[aria-label="Resume batch"]');
      }
    }
    await waitFor(`document.querySelectorAll('button.thumb[data-status="done"]').length === ${GOOD} && document.querySelectorAll('button.thumb[data-status="failed"]').length === 1`);
    await waitFor(`!document.querySelector('[data-testid="batch-run"]')`);
    expect(await thumbsWith('queued')).toBe(0);
    expect(await thumbsWith('running')).toBe(0);
    const failedTitle = await page.locator('button.thumb[data-status="failed"]').getAttribute('title');
    expect(failedTitle).toContain('truncated.jpg');
    expect(failedTitle).toMatch(/failed: not a supported image/);
    expect(await page.locator('[data-testid="batch-last"]').innerText()).toMatch(/^6\/7 in /);

    mkdirSync(path.join(ROOT, 'tmp'), { recursive: true });
    const done = path.join(dir, 'batch-done.png');
    await page.screenshot({ path: done });
    copyFileSync(pausedShot ? path.join(dir, 'batch-paused.png') : done, path.join(ROOT, 'tmp', 'batch-ui.png'));
    copyFileSync(done, path.join(ROOT, 'tmp', 'batch-ui-done.png'));
    console.log(`[e2e batch] screenshot of the ${pausedShot ? 'paused' : 'finished'} queue saved as tmp/batch-ui.png`);
  });

  it('a done photo shows its heatmap from the cache; Process all runs the photos not done, from the cache where it can', async () => {
    const before = server.calls.get('computeScores') ?? 0;
    await page.click('button.thumb[aria-label^="scene-3.png"]');
    await waitFor(`document.querySelector('img.photo')?.getAttribute('alt') === 'scene-3.png' && document.querySelector('canvas[data-testid="overlay"]')?.dataset.ready === 'true'`);
    expect(server.calls.get('computeScores')).toBe(before + 1);
    await page.click('button[aria-label="Process all photos"]');
    await waitFor(`(document.querySelector('[data-testid="batch-last"]')?.textContent ?? '').includes('cached')`);
    // Only photos not done run again: the demo scene (its maps cached when the viewer computed them) and the truncated JPEG (fails again).
    expect(await page.locator('[data-testid="batch-last"]').innerText()).toMatch(/^1\/2 in .*, 1 cached$/);
    expect(await thumbsWith('done')).toBe(GOOD + 1);
    expect(await thumbsWith('failed')).toBe(1);
  });

  it('exports the current photo and then the whole batch as overlay PNGs of the right size, never overwriting', async () => {
    await page.click('button[aria-label="Export current photo"]');
    await waitFor(`(document.querySelector('[data-testid="export-last"]')?.textContent ?? '').includes('Exported 1 PNG')`);
    const first = (await fs.readdir(outDir)).filter((f) => f.endsWith('.png'));
    expect(first).toEqual(['scene-3.heatmap.png']);
    const meta = await sharp(path.join(outDir, first[0])).metadata();
    expect([meta.width, meta.height, meta.format]).toEqual([480, 360, 'png']);

    await page.click('button[aria-label="Export all photos"]');
    await waitFor(`(document.querySelector('[data-testid="export-last"]')?.textContent ?? '').includes('Exported ${GOOD} PNGs')`);
    const all = (await fs.readdir(outDir)).sort();
    expect(all.filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // The 6 scenes the user opened (not the demo scene shown at start); scene-3 a second time under a new name.
    expect(all.filter((f) => f.endsWith('.png'))).toHaveLength(GOOD + 1);
    expect(all).toContain('scene-3-2.heatmap.png');
    expect(all).not.toContain('digit-scene.heatmap.png');
    for (const f of all.filter((x) => /^scene-\d\.heatmap\.png$/.test(x))) {
      const m = await sharp(path.join(outDir, f)).metadata();
      expect([m.width, m.height]).toEqual([480, 360]);
    }
    expect(server.serverErrors).toEqual([]);
    expect(win.pageErrors).toEqual([]);
  });
});
