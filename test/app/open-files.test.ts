import { describe, expect, it } from 'vitest';
import { filesFromArgv, OpenFilesQueue } from '../../main/electron/open-files';

const onDisk = new Set(['/home/u/a.jpg', '/home/u/models/m', '/tmp/b.png']);
const exists = (p: string) => onDisk.has(p);

describe('files handed by the OS', () => {
  it('takes existing paths from a packaged argv, skipping the executable and flags, resolving against the cwd', async () => {
    expect(await filesFromArgv(['/opt/Convmap/convmap', '--no-sandbox', 'a.jpg', 'models/m', 'gone.jpg', '/tmp/b.png', 'a.jpg'], { cwd: '/home/u', packaged: true, exists }))
      .toEqual(['/home/u/a.jpg', '/home/u/models/m', '/tmp/b.png']);
  });

  it('skips the app path under `electron .`, and takes dash-named files after --', async () => {
    expect(await filesFromArgv(['/usr/bin/electron', '/home/u', 'a.jpg'], { cwd: '/home/u', packaged: false, exists })).toEqual(['/home/u/a.jpg']);
    const dash = new Set(['/home/u/-odd.jpg']);
    expect(await filesFromArgv(['convmap', '--', '-odd.jpg'], { cwd: '/home/u', packaged: true, exists: (p) => dash.has(p) })).toEqual(['/home/u/-odd.jpg']);
  });

  it('holds files until the window is ready, then delivers them at once and later ones directly', () => {
    const q = new OpenFilesQueue();
    const got: string[][] = [];
    q.push(['/a.jpg']);
    q.push(['/b.jpg', '/a.jpg']);
    q.attach((p) => got.push(p));
    expect(got).toEqual([['/a.jpg', '/b.jpg']]);
    q.push(['/c.jpg']);
    q.detach();
    q.push(['/d.jpg']);
    expect(got).toEqual([['/a.jpg', '/b.jpg'], ['/c.jpg']]);
  });
});
