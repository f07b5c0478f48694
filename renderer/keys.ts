/** The window's keyboard shortcuts: one table, shown by Help → Keyboard shortcuts and handled in App.vue (the menu's by main). */
import { ACCELERATORS, acceleratorText } from '../core/accelerators';

export interface Shortcut {
  keys: string;
  what: string;
}

export const SHORTCUTS: readonly Shortcut[] = [
  { keys: 'H', what: 'hide the overlay while held (compare with the photo)' },
  { keys: '[  ]', what: 'previous / next class in the class list' },
  { keys: 'PageUp  PageDown', what: 'previous / next photo' },
  { keys: 'Esc', what: 'cancel the running computation' },
  { keys: '+  −  0  1', what: 'zoom in, out, fit, 100 % (photo focused)' },
  { keys: '← → ↑ ↓', what: 'pan (photo focused); previous / next photo (strip focused); move in the class list' },
  { keys: '?', what: 'this list' },
];

const mac = typeof navigator !== 'undefined' && /Mac/i.test(navigator.platform);
const menuKey = (a: string): string => acceleratorText(a, mac);

/** The application menu's accelerators (bound by main's menu), listed after the window's own keys. */
export const MENU_SHORTCUTS: readonly Shortcut[] = [
  { keys: menuKey(ACCELERATORS.openModel), what: 'open a model (File › Open Model…)' },
  { keys: menuKey(ACCELERATORS.openPhotos), what: 'open photos' },
  { keys: menuKey(ACCELERATORS.openFolders), what: 'open a folder of photos' },
  { keys: menuKey(ACCELERATORS.exportPhoto), what: 'export the photo on screen (File › Export Photo…)' },
  { keys: menuKey(ACCELERATORS.exportAll), what: 'export every photo into a folder (File › Export All Photos…)' },
  { keys: menuKey(ACCELERATORS.shortcuts), what: 'this list (Help › Keyboard Shortcuts)' },
];

/** True when the key goes to a text field, a select or a slider, not to the shortcuts. */
export function typingInto(target: EventTarget | null): boolean {
  const el = target as { tagName?: string; isContentEditable?: boolean; type?: string } | null;
  if (!el || typeof el.tagName !== 'string') return false;
  const tag = el.tagName.toUpperCase();
  if (tag === 'TEXTAREA' || tag === 'SELECT' || el.isContentEditable === true) return true;
  return tag === 'INPUT' && el.type !== 'checkbox' && el.type !== 'button';
}
