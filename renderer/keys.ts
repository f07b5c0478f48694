/** The window's keyboard shortcuts: one table, shown by Help → Keyboard shortcuts and handled in App.vue. */

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

/** True when the key goes to a text field, a select or a slider, not to the shortcuts. */
export function typingInto(target: EventTarget | null): boolean {
  const el = target as { tagName?: string; isContentEditable?: boolean; type?: string } | null;
  if (!el || typeof el.tagName !== 'string') return false;
  const tag = el.tagName.toUpperCase();
  if (tag === 'TEXTAREA' || tag === 'SELECT' || el.isContentEditable === true) return true;
  return tag === 'INPUT' && el.type !== 'checkbox' && el.type !== 'button';
}
