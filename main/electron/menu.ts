/**
 * The application menu: File (Open Model…, Open Photos…, Open Folder…, Built-in digits model, Open
 * Recent, Export Photo…, Export All Photos…, Quit), Edit for text fields, View, Window, Help
 * (Keyboard Shortcuts). Built from the recent list, so main rebuilds it when that list changes.
 */
import type { MenuItemConstructorOptions } from 'electron';
import { ACCELERATORS } from '../../core/accelerators';
import type { RecentItems } from '../../core/api';
import { BUILTIN_MODEL_NAME, modelDisplayName } from '../../core/defaults';

/** What the menu's items do; main.ts implements them (dialogs, or a MenuCommand sent to the window). */
export interface MenuActions {
  openModel(): void;
  openPhotos(): void;
  openFolders(): void;
  /** Loads a model in the window: a recent model's path, or null for the built-in digit model. */
  loadModel(path: string | null): void;
  /** Opens a recent photo in the window. */
  openRecentPhoto(path: string): void;
  /** The window's "Export photo…" (the photo on screen). */
  exportPhoto(): void;
  /** The window's "Run batch → folder…" (every photo, into a folder). */
  exportAll(): void;
  /** Shows the window's keyboard-shortcut sheet. */
  showShortcuts(): void;
}

/** The name of the built-in model in the menu and the window's recent list. */
export const BUILTIN_MENU_LABEL = `${BUILTIN_MODEL_NAME} model`;

const NO_RECENT: RecentItems = { models: [], photos: [] };

/** Path components, without empty ones ('/' and '\\' alike). */
const partsOf = (p: string): string[] => p.split(/[\\/]+/).filter((x) => x.length > 0);

/** Labels for `paths` by `name`; a name two paths share gets the folder above it: "model.h5 — keras". */
function labelsOf(paths: readonly string[], name: (p: string) => string): string[] {
  const names = paths.map(name);
  return names.map((n, i) => {
    if (names.indexOf(n) === names.lastIndexOf(n)) return n;
    const parts = partsOf(paths[i]);
    const parent = parts[parts.lastIndexOf(n) - 1];
    return parent === undefined ? n : `${n} — ${parent}`;
  });
}

/** Open Recent: the built-in model, the recent models (newest first), a separator, the recent photos. */
function recentSubmenu(actions: MenuActions, recent: RecentItems): MenuItemConstructorOptions[] {
  const items: MenuItemConstructorOptions[] = [{ label: BUILTIN_MENU_LABEL, click: () => actions.loadModel(null) }];
  const modelLabels = labelsOf(recent.models, modelDisplayName);
  recent.models.forEach((p, i) => items.push({ label: modelLabels[i], click: () => actions.loadModel(p) }));
  if (recent.photos.length > 0) items.push({ type: 'separator' });
  const photoLabels = labelsOf(recent.photos, (p) => partsOf(p).pop() ?? p);
  recent.photos.forEach((p, i) => items.push({ label: photoLabels[i], click: () => actions.openRecentPhoto(p) }));
  return items;
}

/**
 * The menu template.
 * @param recent the recent list (AppService.recent) shown under File → Open Recent.
 */
export function menuTemplate(actions: MenuActions, platform: NodeJS.Platform = process.platform, dev = false, recent: RecentItems = NO_RECENT): MenuItemConstructorOptions[] {
  const mac = platform === 'darwin';
  const file: MenuItemConstructorOptions = {
    label: 'File',
    submenu: [
      { label: 'Open Model…', accelerator: ACCELERATORS.openModel, click: () => actions.openModel() },
      { label: 'Open Photos…', accelerator: ACCELERATORS.openPhotos, click: () => actions.openPhotos() },
      { label: 'Open Folder…', accelerator: ACCELERATORS.openFolders, click: () => actions.openFolders() },
      { label: BUILTIN_MENU_LABEL, click: () => actions.loadModel(null) },
      { label: 'Open Recent', submenu: recentSubmenu(actions, recent) },
      { type: 'separator' },
      { label: 'Export Photo…', accelerator: ACCELERATORS.exportPhoto, click: () => actions.exportPhoto() },
      { label: 'Export All Photos…', accelerator: ACCELERATORS.exportAll, click: () => actions.exportAll() },
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
  const help: MenuItemConstructorOptions = {
    role: 'help',
    label: 'Help',
    submenu: [{ label: 'Keyboard Shortcuts', accelerator: ACCELERATORS.shortcuts, click: () => actions.showShortcuts() }],
  };
  return [
    ...(mac ? [{ role: 'appMenu' } as const] : []),
    file,
    { role: 'editMenu' },
    view,
    { role: 'windowMenu' },
    help,
  ];
}
