// Renderer side of issue 13: through the real main process (main/electron/main.ts with its real
// IPC registration and app service; only electron is stood in for), every channel that takes a path
// refuses one the user never chose, and accepts what came from a dialog, a drop, the command line,
// the OS's open-file or the recent list. Errors never quote a file's content.
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { makeRecipe } from '../../core/recipe';
import { DROPPED_CHANNEL, PHOTO_SCHEME } from '../../core/api';

const electron = await vi.hoisted(async () => (await import('./electron-fake')).createElectronFake());
vi.mock('electron', async () => (await import('./electron-fake')).electronModule(electron));

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}

describe('paths from the renderer, through the real main process', () => {
  let dir: string;
  let argvPhoto: string;
  const argv = process.argv;
  const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
  const page = () => ({ sender: electron.windows[0].webContents, senderFrame: { url: 'convmap-app://renderer/index.html', parent: null } });
  const call = (channel: string, ...args: unknown[]) => {
    const h = electron.ipcHandlers.get(channel);
    if (!h) throw new Error(`no handler for ${channel}`);
    return h(page(), ...args) as Promise<unknown>;
  };
  const png = async (name: string, r = 200, size: [number, number] = [8, 6]): Promise<string> => {
    const file = path.join(dir, name);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await sharp({ create: { width: size[0], height: size[1], channels: 3, background: { r, g: 10, b: 10 } } }).png().toFile(file);
    return file;
  };
  const refused = (channel: string, what: string, p: string) => `${channel} refused: ${what} "${p}" was not chosen by the user (open it from a dialog, a drop, the command line or the recent list)`;

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'convmap-chosen-'));
    electron.userData = path.join(dir, 'user');
    argvPhoto = await png('argv.png');
    process.argv = [process.execPath, '.', argvPhoto];
    await import('../../main/electron/main');
    await until(() => electron.windows.length === 1 && electron.ipcHandlers.size > 0);
  });
  afterAll(async () => {
    process.argv = argv;
    electron.appHandlers.get('will-quit')?.({ preventDefault() {} });
    await until(() => electron.quit.mock.calls.length > 0);
    warn.mockRestore();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('refuse on add-photos, add-folders and load-model a path never chosen, even of a real photo, and log why', async () => {
    const stranger = await png('never-chosen/a.png');
    await expect(call('convmap:add-photos', [stranger])).rejects.toThrow(refused('convmap:add-photos', 'paths[0]', stranger));
    await expect(call('convmap:add-photos', ['/etc/passwd'])).rejects.toThrow(refused('convmap:add-photos', 'paths[0]', '/etc/passwd'));
    await expect(call('convmap:add-folders', { paths: ['/usr'], recursive: true })).rejects.toThrow(refused('convmap:add-folders', 'paths[0]', '/usr'));
    await expect(call('convmap:add-folders', { paths: [path.dirname(stranger)], recursive: false })).rejects.toThrow(refused('convmap:add-folders', 'paths[0]', path.dirname(stranger)));
    await expect(call('convmap:load-model', { path: '/etc/passwd' })).rejects.toThrow(refused('convmap:load-model', 'path', '/etc/passwd'));
    expect(warn.mock.calls.map((c) => String(c[0])).filter((l) => l.startsWith('[ipc]'))).toEqual([
      `[ipc] ${refused('convmap:add-photos', 'paths[0]', stranger)}`,
      `[ipc] ${refused('convmap:add-photos', 'paths[0]', '/etc/passwd')}`,
      `[ipc] ${refused('convmap:add-folders', 'paths[0]', '/usr')}`,
      `[ipc] ${refused('convmap:add-folders', 'paths[0]', path.dirname(stranger))}`,
      `[ipc] ${refused('convmap:load-model', 'path', '/etc/passwd')}`,
    ]);
  });

  it('log a refused path with its control characters escaped, so it cannot drive the terminal', async () => {
    const evil = '/tmp/\u001b]0;owned\u0007\u001b[2J.png';
    await expect(call('convmap:add-photos', [evil])).rejects.toThrow(/was not chosen/);
    const line = String(warn.mock.lastCall?.[0]);
    expect(line).toBe(`[ipc] ${refused('convmap:add-photos', 'paths[0]', '/tmp/\\x1b]0;owned\\x07\\x1b[2J.png')}`);
    expect(line).not.toMatch(/[\u0000-\u001f]/);
  });

  it('accept a command-line photo, a dropped one, an open-file one and the recent ones', async () => {
    const opened = (r: unknown) => (r as { photos: { name: string }[] }).photos.map((p) => p.name);
    expect(opened(await call('convmap:add-photos', [argvPhoto]))).toEqual(['argv.png']);

    const dropped = await png('dropped/cat.png');
    await expect(call('convmap:add-photos', [dropped])).rejects.toThrow(/was not chosen/);
    electron.ipcListeners.get(DROPPED_CHANNEL)?.(page(), dropped);
    expect(opened(await call('convmap:add-photos', [dropped]))).toEqual(['cat.png']);

    const viaOs = await png('os/dog.png');
    electron.appHandlers.get('open-file')?.({ preventDefault() {} }, viaOs);
    expect(opened(await call('convmap:add-photos', [viaOs]))).toEqual(['dog.png']);

    // Recents are what was opened before; here those photos were remembered by this session.
    const recent = (await call('convmap:recent')) as { photos: string[] };
    expect(recent.photos).toEqual(expect.arrayContaining([argvPhoto, dropped, viaOs]));
  });

  it("accept what the open dialogs answered, and never quote a file's content in an error", async () => {
    const secret = path.join(dir, 'chosen-model', 'model.json');
    await fs.mkdir(path.dirname(secret), { recursive: true });
    await fs.writeFile(secret, 'root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin\n');
    await expect(call('convmap:load-model', { path: secret })).rejects.toThrow(/was not chosen/);
    electron.dialogAnswer = [secret];
    await expect(call('convmap:open-model-dialog')).resolves.toBe(secret);
    const err = await call('convmap:load-model', { path: secret }).then(() => undefined, (e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect(err?.message).toContain('model.json');
    expect(err?.message).not.toMatch(/root|daemon|bash|x:0/);

    const fakePhoto = path.join(dir, 'chosen-model', 'passwd.png');
    await fs.copyFile(secret, fakePhoto);
    electron.ipcListeners.get(DROPPED_CHANNEL)?.(page(), fakePhoto);
    const { failed } = (await call('convmap:add-photos', [fakePhoto])) as { failed: { reason: string }[] };
    expect(failed).toHaveLength(1);
    expect(failed[0].reason).toContain('passwd.png');
    expect(failed[0].reason).not.toMatch(/root|daemon|bash|x:0/);

    const folder = path.join(dir, 'chosen-folder');
    await png('chosen-folder/one.png');
    await expect(call('convmap:add-folders', { paths: [folder], recursive: false })).rejects.toThrow(/was not chosen/);
    electron.dialogAnswer = [folder];
    const viaDialog = (await call('convmap:open-folders-dialog', false)) as { photos: { name: string }[] };
    expect(viaDialog.photos.map((p) => p.name)).toEqual(['one.png']);
    await expect(call('convmap:add-folders', { paths: [folder], recursive: false })).resolves.toMatchObject({ photos: [{ name: 'one.png' }] });
  });

  it('export a batch only into the folder chosen in the export dialog', async () => {
    const model = (await call('convmap:load-model', { path: null })) as { id: string };
    // Bigger than the digit model's 28-pixel window, so the batch has cells to draw.
    const photo = await png('batch/p.png', 120, [64, 48]);
    electron.ipcListeners.get(DROPPED_CHANNEL)?.(page(), photo);
    const { photos } = (await call('convmap:add-photos', [photo])) as { photos: { id: string }[] };
    const outDir = path.join(dir, 'exports');
    await fs.mkdir(outDir);
    const exportTo = (out: string) => ({
      batchId: 'b1', modelId: model.id, photoIds: [photos[0].id],
      recipe: makeRecipe({ scales: [1], classChoice: 'top', view: 'absolute', colormap: 'turbo', opacity: 0.5, threshold: 0.1, legend: false, namePattern: '{name}', scores: 'none' }),
      export: { outDir: out },
    });
    await expect(call('convmap:run-batch', exportTo(outDir))).rejects.toThrow(`convmap:run-batch refused: outDir "${outDir}" was not chosen in the export dialog`);
    // Chosen as a photo folder is not chosen as an export folder.
    electron.dialogAnswer = [outDir];
    await call('convmap:open-folders-dialog', false);
    await expect(call('convmap:run-batch', exportTo(outDir))).rejects.toThrow(/was not chosen in the export dialog/);
    await expect(call('convmap:choose-export-folder')).resolves.toBe(outDir);
    await expect(call('convmap:run-batch', exportTo(outDir))).resolves.toMatchObject({ batchId: 'b1', total: 1, done: 1, cancelled: false });
    expect((await fs.readdir(outDir)).filter((f) => f.endsWith('.png'))).toHaveLength(1);
  });

  it('serve a photo opened this way by identity: swapped for a symlink to another file, it is refused', async () => {
    const file = await png('served/x.png', 90);
    electron.ipcListeners.get(DROPPED_CHANNEL)?.(page(), file);
    const { photos } = (await call('convmap:add-photos', [file])) as { photos: { url: string }[] };
    const serve = electron.protocolHandlers.get(PHOTO_SCHEME);
    expect((await serve?.(new Request(photos[0].url)))?.status).toBe(200);
    const other = await png('served/other.png', 91);
    await fs.rm(file);
    await fs.symlink(other, file);
    expect((await serve?.(new Request(photos[0].url)))?.status).toBe(404);
    expect(warn).toHaveBeenLastCalledWith('[photo] refused x.png: it is now another file');
  });
});
