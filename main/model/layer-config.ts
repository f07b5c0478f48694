/** Reading a tfjs layer's config (`layer.getConfig()`), shared by the conversion and the ONNX writer. */

/**
 * A Keras size along both image axes (kernel_size, strides, pool_size, dilation_rate) as [height, width]:
 * Keras accepts one number for both axes or a list; a one-element list means the same on both.
 * @param x the config value: a number, [h] or [h, w]; anything else counts as absent
 * @param fallback used on both axes when the value is absent (the layer's default, e.g. 1 for strides)
 */
export function pair(x: unknown, fallback: number): [number, number] {
  if (Array.isArray(x)) return [Number(x[0]), Number(x[1] ?? x[0])];
  if (typeof x === 'number') return [x, x];
  return [fallback, fallback];
}
