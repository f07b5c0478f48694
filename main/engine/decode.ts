/**
 * Photo decoding and resizing with sharp (libvips): every photo becomes upright 8-bit sRGB,
 * interleaved RGB, whatever its format, orientation, colour space, bit depth or alpha.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';

/** An upright 8-bit RGB raster: row-major [height, width, 3] (index (y · width + x) · 3 + c). */
export interface RgbImage {
  /** Interleaved RGB bytes, length height · width · 3. */
  data: Uint8Array;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  channels: 3;
}

/** Default largest photo accepted by {@link decodeImage}: 100 megapixels. */
export const DEFAULT_MAX_PIXELS = 100_000_000;

export interface DecodeOptions {
  /**
   * Largest accepted width · height in pixels (default {@link DEFAULT_MAX_PIXELS}); larger photos
   * are refused before their pixels are decoded.
   */
  maxPixels?: number;
  /**
   * Colour that transparent pixels are composited onto, [r, g, b] 0–255. Default white: transparent
   * PNGs are drawn on light backgrounds by viewers, and white keeps dark-on-light drawings (digits)
   * dark-on-light.
   */
  background?: [number, number, number];
  /** Name used in error messages when `input` is a Buffer (default "<buffer>"). */
  name?: string;
}

/** Error about one input file; the message starts with the file's name. */
export class ImageError extends Error {
  constructor(readonly file: string, detail: string, options?: { cause?: unknown }) {
    super(`${file}: ${detail}`, options);
    this.name = 'ImageError';
  }
}

function reason(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).trim().replace(/\s+/g, ' ');
}

function pixels(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MP` : `${n} pixels`;
}

/**
 * Decode a photo file (JPEG, PNG, WebP, TIFF, GIF, AVIF… whatever sharp reads) to upright RGB.
 * EXIF orientation is applied; CMYK and greyscale become sRGB; alpha is flattened onto
 * `opts.background` (white by default); 16-bit samples are reduced to 8 bits. Multi-page files give
 * their first page.
 * @param input a file path or the encoded bytes.
 * @returns the photo as [height, width, 3] uint8, width and height after orientation.
 * @throws ImageError naming the file when it is missing, not an image, truncated/corrupt, or larger
 *   than `opts.maxPixels`.
 */
export async function decodeImage(input: string | Uint8Array, opts: DecodeOptions = {}): Promise<RgbImage> {
  const name = typeof input === 'string' ? path.basename(input) : (opts.name ?? '<buffer>');
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const [r, g, b] = opts.background ?? [255, 255, 255];
  if (typeof input === 'string') {
    try {
      await access(input);
    } catch (err) {
      throw new ImageError(name, `cannot read file (${reason(err)})`, { cause: err });
    }
  }
  let width: number | undefined;
  let height: number | undefined;
  try {
    // Header only: the size is known before any pixel is decoded.
    const meta = await sharp(input, { limitInputPixels: false }).metadata();
    width = meta.width;
    height = meta.height;
  } catch (err) {
    throw new ImageError(name, `not a supported image (${reason(err)})`, { cause: err });
  }
  if (width === undefined || height === undefined || width < 1 || height < 1) {
    throw new ImageError(name, 'not a supported image (no pixel size in its header)');
  }
  if (width * height > maxPixels) {
    throw new ImageError(name, `image is ${width}×${height} (${pixels(width * height)}), over the limit of ${pixels(maxPixels)}`);
  }
  try {
    const { data, info } = await sharp(input, { limitInputPixels: maxPixels })
      .rotate()
      .flatten({ background: { r, g, b } })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: 3 };
  } catch (err) {
    throw new ImageError(name, `not a supported image (${reason(err)})`, { cause: err });
  }
}

/**
 * Resize an RGB raster to exactly height × width (aspect ratio not kept) with sharp's Lanczos-3
 * kernel, which antialiases when shrinking (libvips reduces with a kernel widened by the factor).
 * @returns a new [height, width, 3] uint8 raster; `img` itself when the size is unchanged.
 * @throws RangeError when height or width is not a positive integer.
 */
export async function resizeRgb(img: RgbImage, height: number, width: number): Promise<RgbImage> {
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
    throw new RangeError(`resizeRgb: size must be positive integers, got ${height}×${width}`);
  }
  if (height === img.height && width === img.width) return img;
  const { data, info } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 }, limitInputPixels: false })
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: 3 };
}
