/** distinctSubfolders, hand-worked: same-named photos from different folders get the fewest trailing folders that tell them apart. */
import { describe, expect, it } from 'vitest';
import { distinctSubfolders } from '../../main/services/export';

describe('distinctSubfolders', () => {
  it('leaves photos alone whose names differ, or that are one file opened twice', () => {
    expect(distinctSubfolders(['/p/cat.jpg', '/q/dog.jpg', '/q/dog.jpg'], ['', '', ''])).toEqual(['', '', '']);
  });

  it('adds one folder where one tells them apart, more where the nearest folders share a name', () => {
    expect(distinctSubfolders(['/trip/cat.jpg', '/work/cat.jpg'], ['', ''])).toEqual(['trip', 'work']);
    expect(distinctSubfolders(['/x/trip/a/cat.jpg', '/x/work/a/cat.jpg', '/y/b/cat.jpg'], ['', '', ''])).toEqual(['trip/a', 'work/a', 'y/b']);
  });

  it('a folder that is the tail of another is told apart by the deeper path; sub-folders from a scan are kept in front', () => {
    expect(distinctSubfolders(['/a/b/cat.jpg', '/b/cat.jpg'], ['', ''])).toEqual(['a/b', 'b']);
    expect(distinctSubfolders(['/one/s/cat.jpg', '/two/s/cat.jpg', '/two/t/cat.jpg'], ['s', 's', 't'])).toEqual(['s/one/s', 's/two/s', 't']);
  });

  it('a photo at the root of the file system keeps no extra folder while the other gets its own', () => {
    expect(distinctSubfolders(['/cat.jpg', '/pets/cat.jpg'], ['', ''])).toEqual(['', 'pets']);
  });
});
