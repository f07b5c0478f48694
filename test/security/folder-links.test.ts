import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppService, type AppService } from '../../main/services/window/app-service';
import { scanInputs } from '../../main/services/scan';
import { tempDir } from '../helpers/temp-dir';

/**
 * Symbolic links inside a chosen folder (issue 19): links that stay inside it are followed, links
 * to photos or folders elsewhere are skipped with their target named, by the scan the CLI runs and
 * by the window's Open Folder alike.
 */
const tmp = tempDir('convmap-folder-links-');
let chosen = '';
let elsewhere = '';
let service: AppService;

async function png(file: string, r: number): Promise<void> {
  await sharp({ create: { width: 4, height: 4, channels: 3, background: { r, g: 0, b: 0 } } }).png().toFile(file);
}

beforeAll(async () => {
  chosen = path.join(tmp.path, 'chosen');
  elsewhere = path.join(tmp.path, 'elsewhere');
  await fs.mkdir(path.join(chosen, 'sub'), { recursive: true });
  await fs.mkdir(path.join(elsewhere, 'more'), { recursive: true });
  await png(path.join(chosen, 'a.png'), 1);
  await png(path.join(chosen, 'sub', 'b.png'), 2);
  await png(path.join(elsewhere, 'secret.png'), 3);
  await png(path.join(elsewhere, 'more', 'deep.png'), 4);
  await fs.symlink(path.join('sub', 'b.png'), path.join(chosen, 'inside.png'));
  await fs.symlink(path.join(elsewhere, 'secret.png'), path.join(chosen, 'outside.png'));
  await fs.symlink(path.join('..', '..', 'elsewhere', 'secret.png'), path.join(chosen, 'sub', 'relative-out.png'));
  await fs.symlink(path.join(elsewhere, 'more'), path.join(chosen, 'outdir'));
  service = await createAppService({ userDataDir: path.join(tmp.path, 'user'), cacheDir: null });
});
afterAll(async () => {
  await service?.close();
});

describe('symbolic links in a chosen folder', () => {
  it('the scan follows links inside the folder and skips those leading out, naming their targets', async () => {
    const scan = await scanInputs([chosen], { recursive: true });
    expect(scan.photos.map((p) => path.relative(chosen, p))).toEqual(['a.png', 'inside.png']);
    const real = await fs.realpath(elsewhere);
    expect(scan.skipped.map((s) => [path.relative(chosen, s.path), s.reason])).toEqual(expect.arrayContaining([
      ['outdir', `symbolic link to ${path.join(real, 'more')}, outside the chosen folder`],
      ['outside.png', `symbolic link to ${path.join(real, 'secret.png')}, outside the chosen folder`],
      ['sub/relative-out.png', `symbolic link to ${path.join(real, 'secret.png')}, outside the chosen folder`],
    ]));
    // sub/b.png is the file inside.png links to: listed once.
    expect(scan.photos.some((p) => p.includes('elsewhere') || p.endsWith('deep.png') || p.endsWith('secret.png'))).toBe(false);
  });

  it('a folder given through a link of its own is the chosen folder: links inside its target are followed', async () => {
    const alias = path.join(tmp.path, 'alias');
    await fs.symlink(chosen, alias);
    const scan = await scanInputs([alias], { recursive: true });
    expect(scan.photos.map((p) => path.relative(alias, p))).toEqual(['a.png', 'inside.png']);
  });

  it('a photo given by name through a link is kept: the user chose that file', async () => {
    const scan = await scanInputs([path.join(chosen, 'outside.png')]);
    expect(scan.photos).toEqual([path.join(chosen, 'outside.png')]);
  });

  it("the window's Open Folder lists the same photos and counts the links that lead out as skipped", async () => {
    const r = await service.addFolders({ paths: [chosen], recursive: true });
    expect(r.photos.map((p) => p.name).sort()).toEqual(['a.png', 'inside.png']);
    expect(r.failed).toEqual([]);
    expect(r.skipped).toBe(3);
  });
});
