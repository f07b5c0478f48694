import { describe, expect, it } from 'vitest';
import { pair } from '../../main/model/layer-config';

// Hand-worked: how Keras spells a size on both image axes, and what [height, width] it means.
describe('pair (a Keras kernel_size/strides/pool_size value as [height, width])', () => {
  it('repeats one number on both axes', () => {
    expect(pair(3, 1)).toEqual([3, 3]);
    expect(pair(1, 2)).toEqual([1, 1]);
  });

  it('reads a list as [height, width], and a one-element list as both', () => {
    expect(pair([1, 7], 1)).toEqual([1, 7]);
    expect(pair([7, 1], 1)).toEqual([7, 1]);
    expect(pair([2], 1)).toEqual([2, 2]);
  });

  it('reads numbers written as text in a list (as a JSON config may hold them)', () => {
    expect(pair(['2', '3'], 1)).toEqual([2, 3]);
  });

  it('gives the fallback on both axes when the value is absent', () => {
    expect(pair(undefined, 1)).toEqual([1, 1]);
    expect(pair(null, 2)).toEqual([2, 2]);
    expect(pair('same', 1)).toEqual([1, 1]);
  });
});
