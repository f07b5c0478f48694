import { execFile, execFileSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertRegularFile,
  CHUNK_BYTES,
  readFileHead,
  readInside,
  readRegularFile,
  resolveInside,
  resolveRealInside,
  UnsafeFileError,
} from '../../main/io/safe-read';

let root = '';
let model = '';
let fifo = '';
let socketPath = '';
let server: net.Server | null = null;

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-safe-read-'));
  model = path.join(root, 'model');
  await fs.mkdir(path.join(model, 'sub'), { recursive: true });
  await fs.writeFile(path.join(model, 'w.bin'), Buffer.from([1, 2, 3, 4, 5]));
  await fs.writeFile(path.join(model, '..odd.bin'), 'x');
  await fs.writeFile(path.join(root, 'secret.txt'), 'root:x:0:0');
  await fs.symlink(path.join(root, 'secret.txt'), path.join(model, 'out-link.bin'));
  await fs.symlink('w.bin', path.join(model, 'in-link.bin'));
  fifo = path.join(model, 'fifo.bin');
  execFileSync('mkfifo', [fifo]);
  socketPath = path.join(model, 'sock.bin');
  server = net.createServer();
  await new Promise<void>((resolve) => server?.listen(socketPath, resolve));
});
afterAll(async () => {
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await fs.rm(root, { recursive: true, force: true });
});

async function refusal(p: Promise<unknown>): Promise<UnsafeFileError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(UnsafeFileError);
  return e as UnsafeFileError;
}

function syncRefusal(f: () => unknown): UnsafeFileError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(UnsafeFileError);
    return e as UnsafeFileError;
  }
  throw new Error('expected a refusal');
}

describe('resolveInside', () => {
  it('joins paths that stay inside the folder', () => {
    expect(resolveInside('/m/model', 'w.bin')).toBe('/m/model/w.bin');
    expect(resolveInside('/m/model', 'sub/../w.bin')).toBe('/m/model/w.bin');
    expect(resolveInside('/m/model/', './sub/w.bin')).toBe('/m/model/sub/w.bin');
    expect(resolveInside('/m/model', '..odd.bin')).toBe('/m/model/..odd.bin');
  });

  it('refuses climbing out, absolute paths, drive paths and NUL bytes, naming the path', () => {
    for (const bad of ['../secret.txt', '../../../../etc/passwd', 'sub/../../x', '..', '.', '']) {
      const e = syncRefusal(() => resolveInside('/m/model', bad));
      expect(e.reason).toBe('outside');
      expect(e.message.startsWith(`${bad}: `)).toBe(true);
    }
    for (const bad of ['/etc/passwd', 'C:\\Windows\\win.ini', 'C:x', '\\\\server\\share\\x']) {
      expect(syncRefusal(() => resolveInside('/m/model', bad)).message).toContain('absolute path');
    }
    expect(syncRefusal(() => resolveInside('/m/model', 'w.bin\0.png')).message).toContain('NUL');
  });

  it('treats a sibling folder sharing the prefix as outside', () => {
    expect(syncRefusal(() => resolveInside('/m/model', '../model-other/w.bin')).message).toBe('../model-other/w.bin: points outside /m/model');
  });
});

describe('resolveRealInside', () => {
  it('accepts a link that stays inside and refuses one that leads out', async () => {
    expect(await resolveRealInside(model, 'in-link.bin')).toBe(path.join(model, 'in-link.bin'));
    const e = await refusal(resolveRealInside(model, 'out-link.bin'));
    expect(e.reason).toBe('outside');
    expect(e.message).toContain(path.join(root, 'secret.txt'));
  });

  it('names a missing file', async () => {
    const e = await refusal(resolveRealInside(model, 'nope.bin'));
    expect(e.message).toBe(`${path.join(model, 'nope.bin')}: cannot be read (ENOENT)`);
  });
});

describe('regular files only', () => {
  const cases: [string, () => string, string][] = [
    ['a FIFO', () => fifo, 'is a FIFO (named pipe), not a regular file'],
    ['a folder', () => path.join(model, 'sub'), 'is a folder, not a regular file'],
    ['a socket', () => socketPath, 'is a socket, not a regular file'],
    ['/dev/zero', () => '/dev/zero', 'is a character device, not a regular file'],
  ];
  for (const [name, file, message] of cases) {
    it(`refuses ${name} before reading, without blocking`, async () => {
      if (file() === '/dev/zero' && !existsSync('/dev/zero')) return console.log('skipped: no /dev/zero here');
      const reads = [() => readRegularFile(file(), { maxBytes: 100 }), () => readFileHead(file(), 8), () => assertRegularFile(file())];
      for (const read of reads) {
        const e = await refusal(read());
        expect(e.reason).toBe('not-regular');
        expect(e.message).toBe(`${file()}: ${message}`);
      }
    });
  }
});

describe('readRegularFile', () => {
  it('reads a file within the cap, byte for byte', async () => {
    expect([...(await readRegularFile(path.join(model, 'w.bin'), { maxBytes: 5 }))]).toEqual([1, 2, 3, 4, 5]);
    expect([...(await readRegularFile(path.join(model, 'w.bin'), { maxBytes: 5, exactBytes: 5 }))]).toEqual([1, 2, 3, 4, 5]);
    expect([...(await readFileHead(path.join(model, 'w.bin'), 2))]).toEqual([1, 2]);
    expect([...(await readFileHead(path.join(model, 'w.bin'), 9))]).toEqual([1, 2, 3, 4, 5]);
  });

  it('refuses a file over the cap, naming the file, the size and the cap', async () => {
    const file = path.join(model, 'w.bin');
    const e = await refusal(readRegularFile(file, { maxBytes: 4, capName: 'the shard limit' }));
    expect(e.reason).toBe('too-large');
    expect(e.message).toBe(`${file}: is 5 bytes, over the shard limit of 4 bytes`);
  });

  it('refuses a file longer or shorter than the exact length asked for', async () => {
    const file = path.join(model, 'w.bin');
    expect((await refusal(readRegularFile(file, { maxBytes: 100, exactBytes: 4 }))).message).toBe(`${file}: holds 5 bytes, expected exactly 4`);
    expect((await refusal(readRegularFile(file, { maxBytes: 100, exactBytes: 6 }))).message).toBe(`${file}: holds 5 bytes, expected exactly 6`);
  });

  it('names a missing file with its error code', async () => {
    const file = path.join(model, 'missing.bin');
    expect((await refusal(readRegularFile(file, { maxBytes: 1 }))).message).toBe(`${file}: cannot be read (ENOENT)`);
  });
});

describe('readInside: side files and shards opened first, checked on the descriptor', () => {
  it('reads a file inside, or through a link that stays inside, byte for byte', async () => {
    for (const name of ['w.bin', 'in-link.bin']) {
      const r = await readInside(model, name, { maxBytes: 5 });
      expect(r.file).toBe(path.join(model, name));
      expect([...r.bytes]).toEqual([1, 2, 3, 4, 5]);
    }
  });

  it('hands a file over in pieces of at most CHUNK_BYTES, in order, when asked (a shard of 2.5 pieces), and still refuses a wrong length', async () => {
    const big = new Uint8Array(CHUNK_BYTES * 2.5);
    for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) % 251;
    big[big.length - 1] = 7;
    await fs.writeFile(path.join(model, 'big.bin'), big);
    try {
      const pieces: Buffer[] = [];
      const r = await readInside(model, 'big.bin', { maxBytes: big.length, exactBytes: big.length, onChunk: (b) => pieces.push(Buffer.from(b)) });
      expect(r.bytes.byteLength).toBe(0);
      expect(pieces.map((p) => p.byteLength)).toEqual([CHUNK_BYTES, CHUNK_BYTES, CHUNK_BYTES / 2]);
      expect(Buffer.compare(Buffer.concat(pieces), Buffer.from(big))).toBe(0);
      const err = await readInside(model, 'big.bin', { maxBytes: big.length + 1, exactBytes: big.length + 1, onChunk: () => undefined }).then(() => null, (e: unknown) => e);
      expect((err as UnsafeFileError).reason).toBe('wrong-size');
    } finally {
      await fs.rm(path.join(model, 'big.bin'));
    }
  });

  it('refuses a FIFO, a link out of the folder, a file over the cap and a path climbing out, each in one line naming the file', async () => {
    const cases: [string, string, string][] = [
      ['fifo.bin', 'not-regular', `${fifo}: is a FIFO (named pipe), not a regular file`],
      ['out-link.bin', 'outside', `${path.join(model, 'out-link.bin')}: is a link to ${path.join(await fs.realpath(root), 'secret.txt')}, outside ${model}`],
      ['w.bin', 'too-large', `${path.join(model, 'w.bin')}: is 5 bytes, over the label limit of 4 bytes`],
      ['../secret.txt', 'outside', `../secret.txt: points outside ${model}`],
    ];
    for (const [name, reason, message] of cases) {
      const e = await refusal(readInside(model, name, { maxBytes: 4, capName: 'the label limit' }));
      expect(e.reason, name).toBe(reason);
      expect(e.message).toBe(message);
      expect(e.message).not.toContain('\n');
    }
  });

  it.runIf(process.platform === 'linux')('never returns the bytes of a file outside while a link is swapped between inside and outside under it', async () => {
    const dir = path.join(root, 'swap');
    await fs.mkdir(dir);
    await fs.writeFile(path.join(dir, 'inside.txt'), 'inside');
    await fs.writeFile(path.join(root, 'outside.txt'), 'OUTSIDE');
    await fs.symlink('inside.txt', path.join(dir, 'to-in'));
    await fs.symlink(path.join(root, 'outside.txt'), path.join(dir, 'to-out'));
    await fs.symlink('inside.txt', path.join(dir, 'labels.txt'));
    // Another process puts the two links in place of labels.txt in turn, as fast as it can (rename is atomic).
    const swap = `const fs = require('node:fs'); const d = ${JSON.stringify(dir)}; for (;;) { fs.symlinkSync('inside.txt', d + '/t1'); fs.renameSync(d + '/t1', d + '/labels.txt'); fs.symlinkSync(${JSON.stringify(path.join(root, 'outside.txt'))}, d + '/t2'); fs.renameSync(d + '/t2', d + '/labels.txt'); }`;
    const swapper = execFile(process.execPath, ['-e', swap]);
    try {
      // Started swapping: labels.txt has led outside at least once.
      for (let i = 0; i < 3000 && (await fs.readlink(path.join(dir, 'labels.txt')).catch(() => '')) === 'inside.txt'; i++) await new Promise((r) => setTimeout(r, 10));
      const seen = new Set<string>();
      for (let i = 0; i < 3000; i++) {
        const got = await readInside(dir, 'labels.txt', { maxBytes: 100 }).then((r) => r.bytes.toString(), (e: UnsafeFileError) => e.reason);
        seen.add(got);
      }
      expect(seen.has('OUTSIDE')).toBe(false);
      expect(seen.has('inside')).toBe(true);
    } finally {
      swapper.kill('SIGKILL');
    }
  }, 60_000);
});
