// `npm install` on the Node version the README names prints no EBADENGINE warning: every installed
// package's engines.node range accepts the lowest versions package.json's own range allows.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const semver = require('semver') as { satisfies(v: string, range: string): boolean; minVersion(range: string): { version: string } | null };
const root = path.resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { engines?: { node?: string } }> };
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');

describe('the Node version', () => {
  // The lowest version of each alternative of our range: "^22.22.2 || ^24.15.0" → 22.22.2, 24.15.0.
  const lowest = pkg.engines.node.split('||').map((r) => semver.minVersion(r.trim())?.version).filter((v): v is string => v !== undefined);

  it('package.json requires what every installed dependency requires', () => {
    expect(lowest.length).toBeGreaterThan(0);
    const refused: string[] = [];
    for (const [name, entry] of Object.entries(lock.packages)) {
      const range = entry.engines?.node;
      // Platform packages for other systems (sharp's win32-ia32 build, say) are never installed here.
      if (!name || !range || !existsSync(path.join(root, name))) continue;
      for (const v of lowest) if (!semver.satisfies(v, range)) refused.push(`${name} needs node ${range}, not ${v}`);
    }
    expect(refused).toEqual([]);
  });

  it('the README names that version', () => {
    expect(readme).toContain(`npm install      # Node ${lowest[0]}+`);
  });
});
