import { describe, expect, it } from 'vitest';
import { acceleratorText } from '../../core/accelerators';

describe('acceleratorText', () => {
  it.each([
    ['CmdOrCtrl+Shift+O', false, 'Ctrl+Shift+O'],
    ['CmdOrCtrl+Shift+O', true, '⇧⌘O'],
    ['CmdOrCtrl+Alt+O', true, '⌥⌘O'],
    ['CmdOrCtrl+E', false, 'Ctrl+E'],
    ['CmdOrCtrl+/', true, '⌘/'],
    ['Shift+Alt+F', true, '⌥⇧F'],
  ])('%s (macOS %s) reads %s', (acc, mac, text) => {
    expect(acceleratorText(acc, mac)).toBe(text);
  });
});
