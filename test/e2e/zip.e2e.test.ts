/**
 * End-to-end: Teachable Machine's "Download my model" zip, opened through the window's Open model…
 * as it comes (not unzipped first), converts and paints the photo. Oracle: the model's own labels in
 * its metadata.json, shown in the class list, and a painted overlay.
 */
import { existsSync, mkdirSync, mkdtempSync, promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveChromium } from './chromium';
import { openE2eWindow, type E2eWindow } from './harness';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const MODEL = path.resolve(ROOT, '../shared/corpus/models/teachablemachine_waste12_valber');
const ready = haveChromium && existsSync(MODEL);
if (!ready) console.log('[e2e zip] skipped: needs /usr/bin/chromium and ../shared/corpus');

describe.skipIf(!ready)('a Teachable Machine download opened as its zip, in a browser on the real services', () => {
  let win: E2eWindow;
  let zip = '';

  beforeAll(async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'convmap-e2e-zip-'));
    zip = path.join(dir, 'tm-my-image-model.zip');
    const files: Record<string, Uint8Array> = {};
    for (const name of await fs.readdir(MODEL)) files[name] = new Uint8Array(await fs.readFile(path.join(MODEL, name)));
    await fs.writeFile(zip, zipSync(files));
    mkdirSync(path.join(ROOT, 'tmp'), { recursive: true });
    win = await openE2eWindow(dir, { dialogs: { model: zip } });
  });

  afterAll(async () => {
    await win?.close();
  });

  it('Open model… takes the zip: its name, its classes from metadata.json, and a painted overlay', async () => {
    const { page } = win;
    await win.waitFor(`document.querySelector('canvas[data-testid="overlay"]')?.dataset.ready === 'true'`);
    await page.click('button[aria-label="Open model"]');
    await win.waitFor(`document.querySelector('.name strong')?.textContent === 'tm-my-image-model.zip'`, 180_000);
    await win.waitFor(`document.querySelector('canvas[data-testid="overlay"]')?.dataset.ready === 'true'`, 180_000);
    const labels = (JSON.parse(readFileSync(path.join(MODEL, 'metadata.json'), 'utf8')) as { labels: string[] }).labels;
    const shown = await page.locator('[data-testid="classes"] .label').allTextContents();
    for (const label of labels) expect(shown.some((s) => s.includes(label)), `${label} is not in the class list`).toBe(true);
    await page.screenshot({ path: path.join(ROOT, 'tmp/e2e-zip-window.png') });
  }, 240_000);
});
