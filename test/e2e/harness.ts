/**
 * One end-to-end window for a suite: the renderer built into `dir`, the REAL app service, the bridge
 * serving both on 127.0.0.1, and headless Chromium on it. The suites differ only in their files and
 * in what the stubbed dialogs answer.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { createAppService, type AppService } from '../../main/services/window/app-service';
import { startBridgeServer, type BridgeOptions, type BridgeServer } from './bridge-server';
import { buildRenderer } from './build-renderer';
import { launchChromium } from './chromium';

export interface E2eWindow {
  service: AppService;
  server: BridgeServer;
  context: BrowserContext;
  page: Page;
  /** Page errors and console errors so far. */
  pageErrors: string[];
  /**
   * Polls an expression from Node until it is truthy. (page.waitForFunction polls with eval inside
   * the page, which the app's Content-Security-Policy rightly forbids; page.evaluate goes through
   * the debugger protocol.) `explain` adds what the page showed to the timeout's message.
   */
  waitFor(expression: string, timeoutMs?: number, explain?: () => Promise<string>): Promise<void>;
  /** Closes the browser, the bridge and the service, and removes `dir`. */
  close(): Promise<void>;
}

export interface E2eOptions {
  /** What the stubbed dialogs answer. */
  dialogs?: BridgeOptions['dialogs'];
  /** Console errors to ignore (e.g. an unreadable photo's thumbnail). */
  ignoreConsole?: RegExp;
  /** Default 1400×860 (chromium.ts). */
  viewport?: { width: number; height: number };
}

/** Starts the window over a temporary folder `dir` (the caller made it and put its files there) and opens the page. */
export async function openE2eWindow(dir: string, opts: E2eOptions = {}): Promise<E2eWindow> {
  await buildRenderer(path.join(dir, 'web'));
  const service = await createAppService({ userDataDir: path.join(dir, 'user-data') });
  const server = await startBridgeServer({ staticDir: path.join(dir, 'web'), service, dialogs: opts.dialogs });
  const pageErrors: string[] = [];
  const { context, page } = await launchChromium(path.join(dir, 'profile'), pageErrors, opts.ignoreConsole);
  if (opts.viewport) await page.setViewportSize(opts.viewport);
  await page.goto(server.url);
  return {
    service, server, context, page, pageErrors,
    async waitFor(expression, timeoutMs = 120_000, explain) {
      const end = Date.now() + timeoutMs;
      while (!(await page.evaluate(`!!(${expression})`))) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${expression}${explain ? ` (${await explain()})` : ''}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async close() {
      await context.close();
      await server.close();
      await service.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
