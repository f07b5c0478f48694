/**
 * End-to-end: the built renderer in Debian's headless Chromium, with window.convmap bridged to the
 * REAL app service (converter, engine, photos) in this Node process — no canned results. The page
 * opens with the built-in digit model and the demo scene; the test changes scales and class in the
 * UI and reads the overlay canvas: hot on the digits, cold far from them.
 */
import { mkdtempSync, mkdirSync, copyFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import { CHROMIUM, haveChromium } from './chromium';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Box } from '../../core/scoremap';
import { makeDigitScene } from '../../main/digits/scene';
import type { BridgeServer } from './bridge-server';
import { openE2eWindow, type E2eWindow } from './harness';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
if (!haveChromium) console.log(`[e2e] skipped: ${CHROMIUM} is missing (apt-get install -y chromium)`);

interface Truth { box: Box; classIndex: number; label: string }
interface Overlay { width: number; height: number; ready: string; cls: string; scales: string; alpha: Uint8Array }

describe.skipIf(!haveChromium)('the app in a browser, on the real services', () => {
  let dir: string;
  let win: E2eWindow;
  let server: BridgeServer;
  let page: Page;
  let truth: Truth[];
  let photoSize: [number, number];

  async function readOverlay(): Promise<Overlay> {
    const raw = await page.evaluate('window.__convmapTest.readOverlay()') as { width: number; height: number; ready: string; cls: string; scales: string; rgba: string } | null;
    if (!raw) throw new Error('no overlay canvas on the page');
    const rgba = Buffer.from(raw.rgba, 'base64');
    const alpha = new Uint8Array(raw.width * raw.height);
    for (let i = 0; i < alpha.length; i++) alpha[i] = rgba[i * 4 + 3];
    return { ...raw, alpha };
  }

  /** Fraction of overlay pixels painted (alpha > 0) in a box of photo pixels. */
  function painted(o: Overlay, box: Box): number {
    const fy = o.height / photoSize[0];
    const fx = o.width / photoSize[1];
    let n = 0;
    let hot = 0;
    for (let y = Math.max(0, Math.floor(box[0] * fy)); y < Math.min(o.height, Math.ceil(box[2] * fy)); y++) {
      for (let x = Math.max(0, Math.floor(box[1] * fx)); x < Math.min(o.width, Math.ceil(box[3] * fx)); x++) {
        n++;
        if (o.alpha[y * o.width + x] > 0) hot++;
      }
    }
    return n > 0 ? hot / n : 0;
  }

  /** The middle half of a box (where the digit's ink and the strongest cells are). */
  const centre = (b: Box): Box => {
    const h = b[2] - b[0];
    const w = b[3] - b[1];
    return [b[0] + h / 4, b[1] + w / 4, b[2] - h / 4, b[3] - w / 4];
  };

  /** Painted fraction of pixels at least `gap` px from every truth box. */
  function paintedFar(o: Overlay, gap: number): number {
    let n = 0;
    let hot = 0;
    for (let y = 0; y < o.height; y++) {
      for (let x = 0; x < o.width; x++) {
        const py = ((y + 0.5) * photoSize[0]) / o.height;
        const px = ((x + 0.5) * photoSize[1]) / o.width;
        if (truth.some((t) => py > t.box[0] - gap && py < t.box[2] + gap && px > t.box[1] - gap && px < t.box[3] + gap)) continue;
        n++;
        if (o.alpha[y * o.width + x] > 0) hot++;
      }
    }
    return hot / n;
  }

  const waitFor = (expression: string, timeoutMs = 90_000): Promise<void> => win.waitFor(expression, timeoutMs);

  async function waitForOverlay(pred: string): Promise<Overlay> {
    await waitFor(`(() => { const c = document.querySelector('canvas[data-testid="overlay"]'); return !!c && c.dataset.ready === 'true' && (${pred}); })()`);
    return readOverlay();
  }

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'convmap-e2e-'));
    const extra = makeDigitScene({ width: 320, height: 240, count: 4, sizes: [28, 42], seed: 99 });
    const extraPath = path.join(dir, 'second-scene.png');
    await sharp(extra.rgb, { raw: { width: extra.width, height: extra.height, channels: 3 } }).png().toFile(extraPath);
    win = await openE2eWindow(dir, { dialogs: { photos: [extraPath] } });
    ({ page, server } = win);
    const demo = (await (await fetch(new URL('test/demo-truth', server.url))).json()) as { width: number; height: number; truth: Truth[] };
    truth = demo.truth;
    photoSize = [demo.height, demo.width];
  });

  afterAll(async () => {
    await win?.close();
  });

  it('opens with the built-in model and the demo scene computed: hot on the digits, cold far from them', async () => {
    const o = await waitForOverlay(`c.dataset.class === 'any'`);
    expect(o.width).toBe(photoSize[1]);
    expect(o.height).toBe(photoSize[0]);
    expect(await page.locator('[data-testid="grade"] .badge').innerText()).toBe('exact');
    expect(await page.locator('[data-testid="report-summary"]').innerText()).toContain('28×28 px window');

    const inside = truth.map((t) => painted(o, centre(t.box)));
    console.log(`[e2e] painted fraction at digit centres: ${inside.map((v) => v.toFixed(2)).join(' ')}; far from digits: ${paintedFar(o, 16).toFixed(4)}`);
    expect(inside.filter((v) => v >= 0.3).length).toBeGreaterThanOrEqual(Math.ceil(truth.length * 0.8));
    expect(paintedFar(o, 16)).toBeLessThan(0.01);
    expect(server.calls.get('computeScores')).toBe(1);
  });

  it('toggling a scale re-averages in the page without computing again; new scales are computed once', async () => {
    const before = await readOverlay();
    await page.click('[data-scale="1"]');
    const without1 = await waitForOverlay(`c.dataset.scales === '0.5,0.6666666666666666'`);
    expect(server.calls.get('computeScores')).toBe(1);
    // The 28-px digits match the window at scale 1 only: without it their centres cool down.
    const small = truth.filter((t) => t.box[2] - t.box[0] < 35);
    const heat = (o: Overlay): number => small.reduce((a, t) => a + painted(o, centre(t.box)), 0) / small.length;
    console.log(`[e2e] 28-px digits painted: with scale 1 ${heat(before).toFixed(2)}, without ${heat(without1).toFixed(2)}`);
    expect(heat(without1)).toBeLessThan(heat(before));

    await page.click('[data-scale="1"]');
    await waitForOverlay(`c.dataset.scales === '0.5,0.6666666666666666,1'`);
    await page.fill('input[aria-label="Custom scales"]', '0.5, 0.75');
    await page.press('input[aria-label="Custom scales"]', 'Enter');
    const custom = await waitForOverlay(`c.dataset.scales === '0.5,0.75'`);
    expect(server.calls.get('computeScores')).toBe(2);
    expect(custom.alpha.some((a) => a > 0)).toBe(true);
    await page.click('[data-preset="down"]');
    await waitForOverlay(`c.dataset.scales === '0.5,0.6666666666666666,1'`);
    expect(server.calls.get('computeScores')).toBe(2);
  });

  it('picking one class paints that class\'s digits more than the others', async () => {
    // The class with the most digits in the scene.
    const counts = new Map<number, number>();
    for (const t of truth) counts.set(t.classIndex, (counts.get(t.classIndex) ?? 0) + 1);
    const k = [...counts.entries()].sort((a, b) => b[1] - a[1])[0][0];
    await page.click(`[data-testid="classes"] [data-class="${k}"]`);
    const o = await waitForOverlay(`c.dataset.class === '${k}'`);
    const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const mine = mean(truth.filter((t) => t.classIndex === k).map((t) => painted(o, centre(t.box))));
    const others = mean(truth.filter((t) => t.classIndex !== k).map((t) => painted(o, centre(t.box))));
    console.log(`[e2e] class ${k}: painted at its digits ${mine.toFixed(2)}, at other digits ${others.toFixed(2)}`);
    expect(mine).toBeGreaterThan(0.3);
    expect(mine).toBeGreaterThan(2 * others);
    expect(paintedFar(o, 16)).toBeLessThan(0.01);
  });

  it('zoom (wheel) and pan (drag) move the stage with a CSS transform and never redraw the overlay', async () => {
    const draws = async (): Promise<string> => page.evaluate(`document.querySelector('canvas[data-testid="overlay"]').dataset.draws`) as Promise<string>;
    const transform = async (): Promise<string> => page.evaluate(`document.querySelector('[data-testid="stage"]').style.transform`) as Promise<string>;
    const before = { draws: await draws(), transform: await transform() };
    const view = await page.locator('[data-testid="viewport"]').boundingBox();
    if (!view) throw new Error('no viewport');
    await page.mouse.move(view.x + view.width / 2, view.y + view.height / 2);
    await page.mouse.wheel(0, -400);
    await page.mouse.down();
    await page.mouse.move(view.x + view.width / 2 + 60, view.y + view.height / 2 + 30, { steps: 4 });
    await page.mouse.up();
    await page.waitForTimeout(200);
    const zoomed = await transform();
    expect(zoomed).not.toBe(before.transform);
    expect(Number(/scale\(([\d.]+)\)/.exec(zoomed)?.[1])).toBeGreaterThan(Number(/scale\(([\d.]+)\)/.exec(before.transform)?.[1]));
    expect(await draws()).toBe(before.draws);
    await page.focus('[data-testid="viewport"]');
    await page.keyboard.press('0');
    await page.waitForTimeout(100);
    expect(await transform()).toBe(before.transform);
  });

  it('a long computation shows progress and Cancel stops it in main', async () => {
    const cancelsBefore = server.calls.get('cancel') ?? 0;
    await page.click('[data-preset="wide"]');
    const cancel = page.locator('.status [data-job] button');
    await cancel.waitFor({ timeout: 30_000 });
    expect(await page.locator('.status progress').count()).toBe(1);
    await cancel.click();
    await waitFor(`document.querySelector('.status')?.textContent?.includes('Ready')`, 30_000);
    expect(server.calls.get('cancel')).toBe(cancelsBefore + 1);
    expect(await page.locator('section[aria-labelledby="scales-h"]').innerText()).toContain('Cancelled.');
    expect(await page.locator('section[aria-labelledby="scales-h"] [role="alert"]').count()).toBe(0);
    await page.click('[data-preset="down"]');
    await waitForOverlay(`c.dataset.scales === '0.5,0.6666666666666666,1'`);
  });

  it('hover lists the top-5 classes; boxes and the photo dialog work; a screenshot is saved', async () => {
    const t = truth[0];
    const stage = await page.locator('[data-testid="stage"]').boundingBox();
    if (!stage) throw new Error('no stage');
    const sy = stage.height / photoSize[0];
    const sx = stage.width / photoSize[1];
    await page.click('#detections');
    await page.mouse.move(stage.x + ((t.box[1] + t.box[3]) / 2) * sx, stage.y + ((t.box[0] + t.box[2]) / 2) * sy);
    await page.waitForSelector('[data-testid="hover-top"] tr');
    expect(await page.locator('[data-testid="hover-top"] tr').count()).toBe(5);
    expect(await page.locator('svg.marks .det').count()).toBeGreaterThan(0);

    const shots = path.join(dir, 'shots');
    mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: path.join(shots, 'app.png') });
    mkdirSync(path.join(ROOT, 'tmp'), { recursive: true });
    copyFileSync(path.join(shots, 'app.png'), path.join(ROOT, 'tmp', 'e2e-screenshot.png'));

    await page.click('button:has-text("Open photos…")');
    await page.waitForSelector('button.thumb[aria-label^="second-scene.png"]');
    await waitForOverlay(`document.querySelector('img.photo')?.getAttribute('alt') === 'second-scene.png'`);
    await waitFor(`document.querySelector('.status')?.textContent?.includes('Ready')`);
    expect(server.calls.get('computeScores')).toBe(4);
    expect(await page.evaluate(`document.querySelector('img.photo').naturalWidth`)).toBe(320);
    expect(server.serverErrors).toEqual([]);
    expect(win.pageErrors).toEqual([]);
  });
});
