import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PHOTO_SCHEME } from '../../core/api';
import { PhotoIdentities } from '../../main/electron/photo-identity';
import { createAppService, type AppService } from '../../main/services/window/app-service';

const electron = vi.hoisted(() => ({
  registered: [] as unknown[],
  handlers: new Map<string, (req: Request) => Promise<Response>>(),
}));
vi.mock('electron', () => ({
  protocol: {
    registerSchemesAsPrivileged: (schemes: unknown[]) => void electron.registered.push(...schemes),
    handle: (scheme: string, h: (req: Request) => Promise<Response>) => void electron.handlers.set(scheme, h),
  },
}));

const { APP_SCHEME, appResponse, handleSchemes, photoResponse, registerSchemePrivileges } = await import('../../main/electron/protocol');
type PhotoSource = import('../../main/electron/protocol').PhotoSource;

describe('the app and photo schemes', () => {
  let dir: string;
  let service: AppService;
  let photoUrl: string;
  const identities = new PhotoIdentities();
  const log = vi.fn();
  /** Opens a w×h PNG of one colour as the window does, recording its identity. */
  const openPng = async (name: string, width: number, height: number, r: number): Promise<{ file: string; url: string }> => {
    const file = path.join(dir, name);
    await sharp({ create: { width, height, channels: 3, background: { r, g: 0, b: 0 } } }).png().toFile(file);
    const { photos } = await service.addPhotos([file]);
    await identities.record(photos[0].id, file);
    return { file, url: photos[0].url };
  };
  const serve = (url: string) => photoResponse(service, identities, { url, method: 'GET' }, log);
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-proto-'));
    // Engine never started: opening and serving photos needs no inference.
    service = await createAppService({ userDataDir: path.join(dir, 'user') });
    photoUrl = (await openPng('red.png', 6, 4, 255)).url;
    await fs.mkdir(path.join(dir, 'renderer', 'assets'), { recursive: true });
    await fs.writeFile(path.join(dir, 'renderer', 'index.html'), '<!doctype html><title>Convmap</title>');
    await fs.writeFile(path.join(dir, 'renderer', 'assets', 'app.js'), 'console.log(1)');
    await fs.writeFile(path.join(dir, 'secret.txt'), 'secret');
  });
  afterAll(async () => {
    await service.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('registers both schemes as privileged: standard and secure, the photo scheme with fetch and streaming', () => {
    registerSchemePrivileges();
    expect(electron.registered).toEqual(expect.arrayContaining([
      { scheme: PHOTO_SCHEME, privileges: expect.objectContaining({ standard: true, secure: true, supportFetchAPI: true, stream: true }) },
      { scheme: APP_SCHEME, privileges: expect.objectContaining({ standard: true, secure: true }) },
    ]));
  });

  it("serves an opened photo's bytes by its id", async () => {
    handleSchemes(service, identities, path.join(dir, 'renderer'), "default-src 'none'", log);
    const handler = electron.handlers.get(PHOTO_SCHEME);
    const res = await handler?.(new Request(photoUrl));
    expect(res?.status).toBe(200);
    expect(res?.headers.get('content-type')).toBe('image/png');
    const meta = await sharp(Buffer.from(await (res as Response).arrayBuffer())).metadata();
    expect([meta.width, meta.height]).toEqual([6, 4]);
  });

  it.each([
    [`${PHOTO_SCHEME}://photo/00000000-0000-0000-0000-000000000000`],
    [`${PHOTO_SCHEME}://photo/..%2F..%2Fetc%2Fpasswd`],
    [`${PHOTO_SCHEME}://photo/${'/etc/passwd'}`],
    [`${PHOTO_SCHEME}://other/00000000-0000-0000-0000-000000000000`],
    ['file:///etc/passwd'],
  ])('answers 404 for %s', async (url) => {
    const res = await serve(url);
    expect(res.status).toBe(404);
  });

  it('refuses a photo whose file was replaced by a symlink to another file after it was opened, logging why', async () => {
    const { file, url } = await openPng('swap.png', 5, 5, 10);
    expect((await serve(url)).status).toBe(200);
    const other = path.join(dir, 'other.png');
    await fs.writeFile(other, await fs.readFile(file));
    await fs.rm(file);
    await fs.symlink(other, file);
    // Same bytes, same size: only the identity (device + inode) tells them apart.
    expect((await fs.readFile(file)).equals(await fs.readFile(other))).toBe(true);
    const res = await serve(url);
    expect(res.status).toBe(404);
    expect(log).toHaveBeenLastCalledWith('[photo] refused swap.png: it is now another file');
  });

  it('refuses a photo whose file was rewritten or removed after it was opened', async () => {
    const { file, url } = await openPng('edit.png', 5, 5, 20);
    await sharp({ create: { width: 50, height: 50, channels: 3, background: { r: 0, g: 0, b: 255 } } }).png().toFile(`${file}.tmp`);
    await fs.copyFile(`${file}.tmp`, file);
    expect((await serve(url)).status).toBe(404);
    expect(log.mock.lastCall?.[0]).toMatch(/^\[photo\] refused edit\.png: it changed size \(\d+ → \d+ bytes\)$/);
    const gone = await openPng('gone.png', 3, 3, 30);
    await fs.rm(gone.file);
    expect((await serve(gone.url)).status).toBe(404);
    expect(log).toHaveBeenLastCalledWith('[photo] refused gone.png: it cannot be read (ENOENT)');
  });

  it('refuses bytes read from a file swapped in after the path was checked (identity checked on the descriptor read)', async () => {
    // Listed from a folder: only its header is read, so serving it reads the file by path.
    const folder = path.join(dir, 'race');
    await fs.mkdir(folder);
    const file = path.join(folder, 'race.png');
    await sharp({ create: { width: 7, height: 7, channels: 3, background: { r: 40, g: 0, b: 0 } } }).png().toFile(file);
    const { photos } = await service.addFolders({ paths: [folder], recursive: false });
    const id = photos[0].id;
    await identities.record(id, file);
    // Another photo of the same size moved over the path between the check and the read.
    const other = path.join(dir, 'race-other.png');
    await sharp({ create: { width: 7, height: 7, channels: 3, background: { r: 41, g: 0, b: 0 } } }).png().toFile(other);
    expect((await fs.stat(other)).size).toBe((await fs.stat(file)).size);
    const swapping: PhotoSource = {
      photoFile: (i) => service.photoFile(i),
      photoBytes: async (i) => {
        await fs.rename(other, file);
        return service.photoBytes(i);
      },
    };
    const res = await photoResponse(swapping, identities, { url: photos[0].url, method: 'GET' }, log);
    expect(res.status).toBe(404);
    expect(log).toHaveBeenLastCalledWith('[photo] refused race.png: its bytes were read from another file');
    // Listed the same way and left alone, a photo is served: the check refuses only the swap.
    const calm = path.join(dir, 'calm');
    await fs.mkdir(calm);
    await sharp({ create: { width: 7, height: 7, channels: 3, background: { r: 42, g: 0, b: 0 } } }).png().toFile(path.join(calm, 'calm.png'));
    const listed = await service.addFolders({ paths: [calm], recursive: false });
    await identities.record(listed.photos[0].id, path.join(calm, 'calm.png'));
    expect((await serve(listed.photos[0].url)).status).toBe(200);
  });

  it('serves no photo whose identity was never recorded', async () => {
    const file = path.join(dir, 'unrecorded.png');
    await sharp({ create: { width: 2, height: 2, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toFile(file);
    const { photos } = await service.addPhotos([file]);
    expect((await serve(photos[0].url)).status).toBe(404);
    expect(log).toHaveBeenLastCalledWith('[photo] refused unrecorded.png: no identity was recorded when it was opened');
  });

  it('answers 405 to anything but GET and HEAD', async () => {
    expect((await photoResponse(service, identities, { url: photoUrl, method: 'POST' }, log)).status).toBe(405);
  });

  it('serves the built renderer with the CSP header, and nothing outside its folder', async () => {
    const root = path.join(dir, 'renderer');
    const csp = "default-src 'none'; script-src 'self'";
    const index = await appResponse(root, { url: 'convmap-app://renderer/', method: 'GET' }, csp);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-security-policy')).toBe(csp);
    expect(index.headers.get('content-type')).toMatch(/text\/html/);
    const js = await appResponse(root, { url: 'convmap-app://renderer/assets/app.js', method: 'GET' }, csp);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    for (const url of ['convmap-app://renderer/../secret.txt', 'convmap-app://renderer/%2e%2e/secret.txt', 'convmap-app://renderer/..%2Fsecret.txt', 'convmap-app://evil/index.html', 'convmap-app://renderer/missing.js']) {
      expect((await appResponse(root, { url, method: 'GET' }, csp)).status, url).toBe(404);
    }
  });
});
