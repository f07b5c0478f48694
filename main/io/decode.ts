/**
 * Photo reading, decoding and resizing: every photo becomes upright 8-bit sRGB, interleaved RGB,
 * whatever its format (sharp/libvips, and BMP through ./bmp), orientation, colour space, bit depth
 * or alpha. Every entry point (window, batch, CLI) reads and decodes photos through this module.
 */
import path from 'node:path';
import sharp from './sharp';
import { bmpSize, isBmp } from './bmp';
import { decodeBmpOffThread } from './bmp-thread';
import { ImageError, overLimit } from './image-error';
import { abortError } from './abort';
import { readRegularFile, UnsafeFileError, type FileIdentity } from './safe-read';

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

/** Default largest photo accepted by {@link decodePhoto}: 100 megapixels. */
export const DEFAULT_MAX_PIXELS = 100_000_000;

/**
 * Default largest photo file read, in bytes (1 GiB): above any photo within the pixel limit
 * (100 MP of 16-bit RGBA TIFF is 800 MB), far below what a device file such as /dev/zero would grow to.
 */
export const DEFAULT_MAX_PHOTO_BYTES = 1024 ** 3;

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
  /** Name used in error messages when `input` is bytes (default "<buffer>"). */
  name?: string;
  /** Largest file read when `input` is a path (default {@link DEFAULT_MAX_PHOTO_BYTES}). */
  maxBytes?: number;
  /** Longest the decode may run, seconds (default {@link DECODE_SECONDS}). */
  maxSeconds?: number;
  /** Cancels the wait: the promise rejects with an AbortError at once (the decode's result is dropped). */
  signal?: AbortSignal;
}

export { ImageError };

/*
 * Vector images are refused (issue 19): a 2 KB SVG can ask librsvg for minutes of rendering that no
 * pixel limit bounds and that nothing can interrupt (libvips' timeout is not checked inside librsvg,
 * and a process waits for its running decodes before it exits). Photos are checked by their bytes
 * before sharp sees them and by the format sharp's header parse finds (an SVG sharp recognises that
 * the sniff missed), never by their name. libvips' SVG loader itself stays: Convmap draws its own
 * box labels and legends through it.
 */

/** True when the bytes look like an SVG drawing: an XML, comment or doctype start and an <svg> element in the first 4 KB. */
export function looksLikeSvg(bytes: Uint8Array): boolean {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 4096)).toString('utf8').replace(/^\ufeff/, '');
  return /^\s*(<\?xml|<!--|<!DOCTYPE\s+svg|<svg[\s>])/i.test(head) && /<svg[\s>]/i.test(head);
}

/** The refusal of a vector image. */
function vectorRefusal(name: string): ImageError {
  return new ImageError(name, 'an SVG drawing, not a photo: vector images are refused (export it as PNG or JPEG first)');
}

/**
 * Longest a photo's decode may run, in seconds (libvips stops it between tiles): far above what a
 * photo within the pixel limit takes (a 100 MP PNG decodes in a few seconds), so only a file built
 * to be slow meets it.
 */
export const DECODE_SECONDS = 120;

function reason(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).trim().replace(/\s+/g, ' ');
}

/**
 * The one way a photo's bytes are read from disk: the path must name a regular file (a device,
 * FIFO, socket or folder is refused before anything is read, so /dev/zero cannot grow memory and a
 * FIFO cannot hang the read), no larger than `maxBytes`, and not empty.
 * `opts.onIdentity` is told the identity of the descriptor read (io/safe-read FileIdentity).
 * @returns the file's bytes.
 * @throws ImageError naming the file ("file not found", "is a folder, not an image", "is a FIFO
 *   (named pipe), not a regular file", "is N bytes, over the photo limit of M", "empty file (0 bytes), not an image").
 */
export async function readPhotoFile(file: string, opts: { maxBytes?: number; onIdentity?: (identity: FileIdentity) => void } = {}): Promise<Buffer> {
  const name = path.basename(file);
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_PHOTO_BYTES;
  let bytes: Buffer;
  try {
    bytes = await readRegularFile(file, { maxBytes, capName: 'the photo limit', onIdentity: opts.onIdentity });
  } catch (err) {
    if (!(err instanceof UnsafeFileError)) throw new ImageError(name, `cannot read file (${reason(err)})`, { cause: err });
    const detail = /\bENOENT\b/.test(err.detail) ? 'file not found'
      : /\bEISDIR\b|is a folder/.test(err.detail) ? 'is a folder, not an image'
        : /\bEACCES\b|\bEPERM\b/.test(err.detail) ? 'cannot read file (permission denied)'
          : err.detail;
    throw new ImageError(name, detail, { cause: err });
  }
  if (bytes.length === 0) throw new ImageError(name, 'empty file (0 bytes), not an image');
  return bytes;
}

/** Upright size of an encoded photo from its header only (EXIF orientations 5–8 swap the axes). */
export interface PhotoSize {
  width: number;
  height: number;
}

/**
 * Reads a photo's size from its header without decoding pixels; refuses it when over `maxPixels`.
 * @param bytes the encoded photo (any supported format, BMP included).
 * @throws ImageError naming the photo when it is not a supported image or is over the limit.
 */
export async function probePhoto(bytes: Uint8Array, opts: { name?: string; maxPixels?: number } = {}): Promise<PhotoSize> {
  const name = opts.name ?? '<buffer>';
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  let width: number | undefined;
  let height: number | undefined;
  if (isBmp(bytes)) {
    ({ width, height } = bmpSize(bytes) ?? { width: undefined, height: undefined });
  } else {
    if (looksLikeSvg(bytes)) throw vectorRefusal(name);
    try {
      const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
      if (meta.format === 'svg') throw vectorRefusal(name);
      const turned = (meta.orientation ?? 1) >= 5;
      width = turned ? meta.height : meta.width;
      height = turned ? meta.width : meta.height;
    } catch (err) {
      if (err instanceof ImageError) throw err;
      throw new ImageError(name, `not a supported image (${reason(err)})`, { cause: err });
    }
  }
  if (width === undefined || height === undefined || !(width >= 1) || !(height >= 1)) {
    throw new ImageError(name, 'not a supported image (no pixel size in its header)');
  }
  if (width * height > maxPixels) throw overLimit(name, width, height, maxPixels);
  return { width, height };
}

/**
 * Decode a photo (JPEG, PNG, WebP, TIFF, GIF, AVIF… whatever sharp reads, and BMP through
 * Convmap's own decoder) to upright RGB. EXIF orientation is applied; CMYK and greyscale become
 * sRGB; alpha is flattened onto `opts.background` (white by default); 16-bit samples are reduced to
 * 8 bits. Multi-page files give their first page. The pixel limit is checked on the header, before
 * any pixel is decoded.
 * @param input a file path (read once with {@link readPhotoFile}) or the encoded bytes.
 * @returns the photo as [height, width, 3] uint8, width and height after orientation.
 * @throws ImageError naming the file when it is missing, not a regular file, not an image,
 *   truncated/corrupt, or larger than `opts.maxPixels`.
 */
export async function decodePhoto(input: string | Uint8Array, opts: DecodeOptions = {}): Promise<RgbImage> {
  if (opts.signal?.aborted) throw abortError(opts.signal);
  return untilAborted(decodeUncancelled(input, opts), opts.signal);
}

/**
 * `work`, or an AbortError as soon as `signal` fires. A decode runs in libvips' threads and cannot
 * be stopped: a cancelled caller stops waiting for it (a batch ends and writes its files at once);
 * the decode itself ends within its time budget, its result dropped.
 */
export async function untilAborted<T>(work: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal === undefined) return work;
  work.catch(() => undefined);
  if (signal.aborted) throw abortError(signal);
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort as () => void);
  }
}

async function decodeUncancelled(input: string | Uint8Array, opts: DecodeOptions): Promise<RgbImage> {
  const name = typeof input === 'string' ? path.basename(input) : (opts.name ?? '<buffer>');
  const bytes = typeof input === 'string' ? await readPhotoFile(input, { maxBytes: opts.maxBytes }) : input;
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const [r, g, b] = opts.background ?? [255, 255, 255];
  const size = await probePhoto(bytes, { name, maxPixels });
  if (isBmp(bytes)) {
    const raw = await decodeBmpOffThread(bytes, name, maxPixels, size.width * size.height);
    return { data: raw.data, width: raw.width, height: raw.height, channels: 3 };
  }
  try {
    const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    if (meta.format === 'svg') throw vectorRefusal(name);
    let img = sharp(bytes, { limitInputPixels: maxPixels }).timeout({ seconds: opts.maxSeconds ?? DECODE_SECONDS });
    // Only when needed: rotating or flattening makes libvips hold a second full-size copy of a big photo.
    if ((meta.orientation ?? 1) > 1) img = img.rotate();
    if (meta.hasAlpha) img = img.flatten({ background: { r, g, b } });
    const { data, info } = await img
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels, expected 3`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: 3 };
  } catch (err) {
    if (err instanceof ImageError) throw err;
    if (/^timeout: /.test(reason(err))) throw new ImageError(name, `decoding took longer than ${opts.maxSeconds ?? DECODE_SECONDS} s, the limit for one photo: refused`, { cause: err });
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
