import { describe, expect, it } from 'vitest';
import { namedMessage, reasonFor, withoutName } from '../../core/errors';

describe('messages about one file', () => {
  it('prefixes the file name once', () => {
    expect(namedMessage('cat.jpg', new Error('not an image'))).toBe('cat.jpg: not an image');
    expect(namedMessage('cat.jpg', new Error('cat.jpg: not an image'))).toBe('cat.jpg: not an image');
    expect(namedMessage('cat.jpg', 'disk full')).toBe('cat.jpg: disk full');
    // Another file's name at the start is not this one's.
    expect(namedMessage('cat.jpg', new Error('dog.jpg: not an image'))).toBe('cat.jpg: dog.jpg: not an image');
  });

  it('strips a leading name only when it is the whole "<name>: " prefix', () => {
    expect(withoutName('cat.jpg: not an image', 'cat.jpg')).toBe('not an image');
    expect(withoutName('cat.jpg is not an image', 'cat.jpg')).toBe('cat.jpg is not an image');
    expect(withoutName('not an image', 'cat.jpg')).toBe('not an image');
  });

  it('reasonFor gives the first line without the base name of a path', () => {
    expect(reasonFor(new Error('cat.jpg: not an image\n  at decode'), '/photos/cat.jpg')).toBe('not an image');
    expect(reasonFor(new Error('cat.jpg: bad'), 'C:\\photos\\cat.jpg')).toBe('bad');
  });
});
