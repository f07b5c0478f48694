import { existsSync } from 'node:fs';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium; the e2e suites skip with a printed reason where it is missing. */
export const CHROMIUM = '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);

/**
 * Headless Chromium with a fresh profile and the flags this closed network needs, one page open,
 * every page error and console error pushed to `errors` (unless `ignoreConsole` matches it).
 */
export async function launchChromium(profileDir: string, errors: string[], ignoreConsole?: RegExp): Promise<{ context: BrowserContext; page: Page }> {
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 860 },
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !(ignoreConsole && ignoreConsole.test(m.text()))) errors.push(`console: ${m.text()}`);
  });
  return { context, page };
}
