import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workerExecArgv } from '../../main/io/start-worker';

const START_WORKER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../main/io/start-worker.ts');

describe('startWorker', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'convmap-start-worker-'));
    await writeFile(path.join(dir, 'hello.js'), "import { parentPort } from 'node:worker_threads';\nparentPort.postMessage('hello from the worker');\n");
  });
  afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

  it('starts a compiled worker from a process run as `node --input-type=module -e` (the flag is not passed on)', () => {
    const caller = pathToFileURL(path.join(dir, 'caller.js')).href;
    const script = `import { startWorker } from ${JSON.stringify(pathToFileURL(START_WORKER).href)};
const w = startWorker(${JSON.stringify(caller)}, 'hello');
w.on('message', (m) => { console.log(m); process.exit(0); });
w.on('error', (e) => { console.log('error: ' + e.message); process.exit(1); });`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(out.trim()).toBe('hello from the worker');
  });

  it("drops --input-type and the parent's inline script (-e, --eval, -p, --print) and keeps the other flags", () => {
    expect(workerExecArgv(['--import', 'tsx', '--input-type=module', '--max-old-space-size=4096'])).toEqual(['--import', 'tsx', '--max-old-space-size=4096']);
    expect(workerExecArgv(['--input-type', 'module', '--no-warnings'])).toEqual(['--no-warnings']);
    // `node -e CODE` puts the code itself in execArgv: a forked child given it runs CODE, not its entry.
    expect(workerExecArgv(['--input-type=module', '-e', 'import("./cli.mjs")', '--no-warnings'])).toEqual(['--no-warnings']);
    expect(workerExecArgv(['--eval', 'x()', '-p', 'y', '--print=z', '--eval=w', '--stack-size=900'])).toEqual(['--stack-size=900']);
  });
});
