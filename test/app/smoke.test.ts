// Launches the real app where an Electron binary and a display exist (skipped, with the reason
// printed, where they do not: the Electron binary cannot be downloaded on CI machines here).
// Needs `npm run build` first. Run under Xvfb: `xvfb-run -a npx vitest run test/app/smoke.test.ts`.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EVENTS, INVOKES } from '../../core/api';

const root = path.resolve(import.meta.dirname, '../..');
const electronDist = path.join(root, 'node_modules/electron/dist');
const built = path.join(root, 'out/main/main.js');

function skipReason(): string | undefined {
  if (!existsSync(electronDist)) return `no Electron binary (${path.relative(root, electronDist)} is absent: its download is blocked here)`;
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) return 'no display (run under xvfb-run)';
  if (!existsSync(built)) return 'the app is not built (run npm run build)';
  return undefined;
}

const reason = skipReason();
if (reason) console.log(`[smoke] skipped: ${reason}`);

describe.skipIf(reason !== undefined)('the packaged-style app, launched for real', () => {
  it('opens a sandboxed window with exactly the ConvmapApi and computes the demo heatmap', async () => {
    const { _electron } = await import('playwright-core');
    const executablePath = (await import('electron')).default as unknown as string;
    const userData = await mkdtemp(path.join(os.tmpdir(), 'convmap-smoke-'));
    const app = await _electron.launch({ executablePath, args: [root, `--user-data-dir=${userData}`], cwd: root, timeout: 60_000 });
    const errors: string[] = [];
    try {
      const page = await app.firstWindow();
      page.on('pageerror', (e) => errors.push(e.message));
      await page.waitForLoadState('load');
      expect(page.url()).toMatch(/^convmap-app:\/\/renderer\//);
      const api = await page.evaluate(() => ({
        keys: Object.keys((globalThis as unknown as { convmap: object }).convmap).sort(),
        node: typeof (globalThis as { require?: unknown }).require,
        process: typeof (globalThis as { process?: unknown }).process,
      }));
      expect(api.keys).toEqual([...Object.keys(INVOKES), ...Object.keys(EVENTS), 'pathForFile'].sort());
      expect(api.node).toBe('undefined');
      expect(api.process).toBe('undefined');
      const info = await page.evaluate(() => (globalThis as unknown as { convmap: { backendInfo(): Promise<{ backend: string }> } }).convmap.backendInfo());
      expect(['node', 'wasm', 'cpu']).toContain(info.backend);
      // A file:// navigation is refused.
      await page.evaluate(() => {
        (globalThis as unknown as { location: { href: string } }).location.href = 'file:///etc/passwd';
      }).catch(() => undefined);
      await page.waitForTimeout(500);
      expect(page.url()).toMatch(/^convmap-app:\/\//);
      expect(errors).toEqual([]);
    } finally {
      await app.close();
      await rm(userData, { recursive: true, force: true });
    }
  });
});
