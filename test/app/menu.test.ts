// The application menu's template: labels, accelerators, and what each click does.
import { describe, expect, it } from 'vitest';
import { menuTemplate, type MenuActions } from '../../main/electron/menu';

interface Item {
  label?: string;
  role?: string;
  type?: string;
  accelerator?: string;
  click?: () => void;
  submenu?: Item[];
}

/** Actions that record each call as a string. */
function recorder(): { actions: MenuActions; calls: string[] } {
  const calls: string[] = [];
  const actions: MenuActions = {
    openModel: () => void calls.push('open model'),
    openPhotos: () => void calls.push('open photos'),
    openFolders: () => void calls.push('open folders'),
    loadModel: (p) => void calls.push(`load model ${String(p)}`),
    openRecentPhoto: (p) => void calls.push(`open photo ${p}`),
    exportPhoto: () => void calls.push('export photo'),
    exportAll: () => void calls.push('export all'),
    showShortcuts: () => void calls.push('shortcuts'),
  };
  return { actions, calls };
}

const menuOf = (template: unknown[], label: string): Item[] => ((template as Item[]).find((m) => m.label === label)?.submenu ?? []);
const byLabel = (items: Item[], label: string): Item => {
  const item = items.find((i) => i.label === label);
  if (!item) throw new Error(`no item "${label}" in ${items.map((i) => i.label ?? i.role ?? i.type).join(', ')}`);
  return item;
};

describe('the application menu', () => {
  it('File: open items, the built-in model, Open Recent, the two exports and Quit, with their accelerators', () => {
    const { actions } = recorder();
    const file = menuOf(menuTemplate(actions, 'linux'), 'File');
    expect(file.map((i) => i.label ?? i.role ?? i.type)).toEqual([
      'Open Model…', 'Open Photos…', 'Open Folder…', 'Built-in digits model', 'Open Recent', 'separator', 'Export Photo…', 'Export All Photos…', 'separator', 'Quit',
    ]);
    expect(file.map((i) => i.accelerator)).toEqual([
      'CmdOrCtrl+Shift+O', 'CmdOrCtrl+O', 'CmdOrCtrl+Alt+O', undefined, undefined, undefined, 'CmdOrCtrl+E', 'CmdOrCtrl+Shift+E', undefined, undefined,
    ]);
    const accelerators = menuTemplate(actions, 'linux').flatMap((m) => ((m as Item).submenu ?? []).map((i) => i.accelerator)).filter((a) => a !== undefined);
    expect(new Set(accelerators).size).toBe(accelerators.length);
  });

  it.each([
    ['File', 'Open Model…', 'open model'],
    ['File', 'Open Photos…', 'open photos'],
    ['File', 'Open Folder…', 'open folders'],
    ['File', 'Built-in digits model', 'load model null'],
    ['File', 'Export Photo…', 'export photo'],
    ['File', 'Export All Photos…', 'export all'],
    ['Help', 'Keyboard Shortcuts', 'shortcuts'],
  ])('%s › %s calls %s, and nothing else', (menu, label, call) => {
    const { actions, calls } = recorder();
    byLabel(menuOf(menuTemplate(actions, 'linux'), menu), label).click?.();
    expect(calls).toEqual([call]);
  });

  it('Help › Keyboard Shortcuts has CmdOrCtrl+/ and the Help role (macOS puts its search there)', () => {
    const help = (menuTemplate(recorder().actions, 'darwin') as Item[]).find((m) => m.label === 'Help');
    expect(help?.role).toBe('help');
    expect(byLabel(help?.submenu ?? [], 'Keyboard Shortcuts').accelerator).toBe('CmdOrCtrl+/');
  });

  it('Open Recent lists the built-in model, the recent models by name, then the photos; a click opens that path', () => {
    const { actions, calls } = recorder();
    const recent = {
      models: ['/home/u/models/pets/model.json', '/home/u/keras/waste.h5'],
      photos: ['/home/u/photos/cat.jpg', '/home/u/photos/dog.png'],
    };
    const open = byLabel(menuOf(menuTemplate(actions, 'linux', false, recent), 'File'), 'Open Recent').submenu ?? [];
    expect(open.map((i) => i.label ?? i.type)).toEqual(['Built-in digits model', 'pets', 'waste.h5', 'separator', 'cat.jpg', 'dog.png']);
    for (const item of open) item.click?.();
    expect(calls).toEqual([
      'load model null', 'load model /home/u/models/pets/model.json', 'load model /home/u/keras/waste.h5',
      'open photo /home/u/photos/cat.jpg', 'open photo /home/u/photos/dog.png',
    ]);
  });

  it('Open Recent tells entries with the same name apart by their folder; with no recents it holds the built-in model only', () => {
    const recent = { models: ['/a/one/model.h5', '/a/two/model.h5'], photos: ['/x/2024/img.jpg', '/x/2025/img.jpg', 'C:\\pics\\cat.jpg'] };
    const open = byLabel(menuOf(menuTemplate(recorder().actions, 'win32', false, recent), 'File'), 'Open Recent').submenu ?? [];
    expect(open.map((i) => i.label ?? i.type)).toEqual(['Built-in digits model', 'model.h5 — one', 'model.h5 — two', 'separator', 'img.jpg — 2024', 'img.jpg — 2025', 'cat.jpg']);
    const empty = byLabel(menuOf(menuTemplate(recorder().actions, 'linux'), 'File'), 'Open Recent').submenu ?? [];
    expect(empty.map((i) => i.label)).toEqual(['Built-in digits model']);
  });

  it('macOS: the app menu first and File › Close instead of Quit; development adds reload and dev tools to View', () => {
    const mac = menuTemplate(recorder().actions, 'darwin', true) as Item[];
    expect(mac[0]).toEqual({ role: 'appMenu' });
    expect(menuOf(mac, 'File').at(-1)).toEqual({ role: 'close' });
    expect(menuOf(mac, 'View').slice(0, 2).map((i) => i.role)).toEqual(['reload', 'toggleDevTools']);
    expect(menuOf(menuTemplate(recorder().actions, 'linux'), 'View').map((i) => i.role)).not.toContain('toggleDevTools');
  });
});
