import { describe, expect, it } from 'vitest';
import { printable, printableJson } from '../../core/printable';

describe('printable', () => {
  it('writes C0 controls, DEL and C1 controls as visible escapes', () => {
    expect(printable('a\u001b[31mred\u0007')).toBe('a\\x1b[31mred\\x07');
    expect(printable('\u0000\u0001\u001f\u007f\u0080\u009b\u009f')).toBe('\\x00\\x01\\x1f\\x7f\\x80\\x9b\\x9f');
    expect(printable('line\nforged\r\tx')).toBe('line\\nforged\\r\\tx');
  });

  it('escapes an OSC title sequence so that the terminal only shows it', () => {
    expect(printable('\u001b]0;pwned\u0007photo.png')).toBe('\\x1b]0;pwned\\x07photo.png');
  });

  it('escapes bidi overrides and line separators, which reorder or break what is shown', () => {
    expect(printable('photo\u202egnp.exe')).toBe('photo\\u202egnp.exe');
    expect(printable('a\u2028b\u2029c\u2066d\u2069')).toBe('a\\u2028b\\u2029c\\u2066d\\u2069');
  });

  it('keeps printable Unicode as it is', () => {
    for (const text of ['노마스크, 마스크, 가위, 바위, 보', 'café naïve', '猫 🐈', 'C:\\Users\\me\\a b.png', '~!@#$%^&*()[]{}']) {
      expect(printable(text)).toBe(text);
    }
  });

  it('prints non-strings as String() would', () => {
    expect(printable(undefined)).toBe('undefined');
    expect(printable(3)).toBe('3');
  });
});

describe('printableJson', () => {
  it('is JSON that parses back to the same value, with no raw control character', () => {
    const value = { label: '개\u001b[31m', other: 'x\u009b2J\u007f', bidi: '\u202e', korean: '고양이', n: 1 };
    const text = printableJson(value);
    expect(text).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e]/);
    expect(JSON.parse(text)).toEqual(value);
    expect(text).toContain('"korean":"고양이"');
    expect(text).toContain('\\u009b');
  });
});
