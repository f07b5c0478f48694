/** Error about one input file; the message starts with the file's name. */
export class ImageError extends Error {
  constructor(readonly file: string, detail: string, options?: { cause?: unknown }) {
    super(`${file}: ${detail}`, options);
    this.name = 'ImageError';
  }
}

/** A megapixel or pixel count for messages: "6.8 MP", "60000 pixels". */
export function pixelText(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MP` : `${n} pixels`;
}

/** The refusal of a photo over the pixel limit, the same words for every format. */
export function overLimit(name: string, width: number, height: number, maxPixels: number): ImageError {
  return new ImageError(name, `image is ${width}×${height} (${pixelText(width * height)}), over the limit of ${pixelText(maxPixels)}`);
}
