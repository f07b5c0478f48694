/**
 * The application menu's keyboard accelerators, in Electron's syntax: main's menu
 * (main/electron/menu.ts) binds them and the window's shortcut sheet (renderer/keys.ts) lists them,
 * so the two cannot disagree.
 */
export const ACCELERATORS = {
  openModel: 'CmdOrCtrl+Shift+O',
  openPhotos: 'CmdOrCtrl+O',
  openFolders: 'CmdOrCtrl+Alt+O',
  exportPhoto: 'CmdOrCtrl+E',
  exportAll: 'CmdOrCtrl+Shift+E',
  shortcuts: 'CmdOrCtrl+/',
} as const;

const MAC_KEYS: Record<string, string> = { CmdOrCtrl: '⌘', Shift: '⇧', Alt: '⌥', Ctrl: '⌃' };

/**
 * An accelerator as a person reads it on the platform: 'Ctrl+Shift+O' elsewhere, '⇧⌘O' on macOS
 * (modifiers in Apple's order: ⌃ ⌥ ⇧ ⌘).
 */
export function acceleratorText(accelerator: string, mac: boolean): string {
  const parts = accelerator.split('+');
  const key = parts[parts.length - 1];
  const mods = parts.slice(0, -1);
  if (!mac) return [...mods.map((m) => (m === 'CmdOrCtrl' ? 'Ctrl' : m)), key].join('+');
  const order = ['Ctrl', 'Alt', 'Shift', 'CmdOrCtrl'];
  return [...[...mods].sort((a, b) => order.indexOf(a) - order.indexOf(b)).map((m) => MAC_KEYS[m] ?? m), key].join('');
}
