/** The application menu: File (Open Model…, Open Photos…, Open Folder…, Quit), Edit for text fields, View, Help. */
import type { MenuItemConstructorOptions } from 'electron';

export interface MenuActions {
  openModel(): void;
  openPhotos(): void;
  openFolders(): void;
}

export function menuTemplate(actions: MenuActions, platform: NodeJS.Platform = process.platform, dev = false): MenuItemConstructorOptions[] {
  const mac = platform === 'darwin';
  const file: MenuItemConstructorOptions = {
    label: 'File',
    submenu: [
      { label: 'Open Model…', accelerator: 'CmdOrCtrl+Shift+O', click: () => actions.openModel() },
      { label: 'Open Photos…', accelerator: 'CmdOrCtrl+O', click: () => actions.openPhotos() },
      { label: 'Open Folder…', accelerator: 'CmdOrCtrl+Alt+O', click: () => actions.openFolders() },
      { type: 'separator' },
      mac ? { role: 'close' } : { role: 'quit', label: 'Quit' },
    ],
  };
  const view: MenuItemConstructorOptions = {
    label: 'View',
    submenu: [
      ...(dev ? [{ role: 'reload' } as const, { role: 'toggleDevTools' } as const, { type: 'separator' } as const] : []),
      { role: 'resetZoom' }, { role: 'zoomIn' }, { role: 'zoomOut' }, { type: 'separator' }, { role: 'togglefullscreen' },
    ],
  };
  return [
    ...(mac ? [{ role: 'appMenu' } as const] : []),
    file,
    { role: 'editMenu' },
    view,
    { role: 'windowMenu' },
  ];
}
