/**
 * A small BMP decoder: libvips (sharp's prebuilt binaries) does not read BMP, a format still common
 * in inspection and scanner software. Handles Windows BMP with a BITMAPINFOHEADER or later header,
 * uncompressed (BI_RGB) at 1, 4, 8, 24 and 32 bits, and BI_BITFIELDS at 16 and 32 bits, bottom-up and
 * top-down. RLE-compressed files are refused with a clear message.
 */
import { ImageError, overLimit } from './image-error';

/** True when the bytes start with a BMP signature ("BM"). */
export function isBmp(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x42 && bytes[1] === 0x4d;
}

function maskShift(mask: number): { shift: number; max: number } {
  if (mask === 0) return { shift: 0, max: 0 };
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  return { shift, max: mask >>> shift };
}

/** Size of a BMP from its header, [width, height] (top-down files have a negative stored height); undefined when too short. */
export function bmpSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  if (bytes.length < 26 || !isBmp(bytes)) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: v.getInt32(18, true), height: Math.abs(v.getInt32(22, true)) };
}

/**
 * Decode a BMP to [height, width, 3] RGB, top row first.
 * @throws ImageError naming `name` for truncated, unsupported or oversized files.
 */
export function decodeBmp(bytes: Uint8Array, name: string, maxPixels: number): { data: Uint8Array; width: number; height: number } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 54 || !isBmp(buf)) throw new ImageError(name, 'not a supported image (BMP header truncated)');
  const dataOffset = buf.readUInt32LE(10);
  const headerSize = buf.readUInt32LE(14);
  if (headerSize < 40) throw new ImageError(name, `not a supported image (OS/2 BMP header of ${headerSize} bytes)`);
  const width = buf.readInt32LE(18);
  const rawHeight = buf.readInt32LE(22);
  const bpp = buf.readUInt16LE(28);
  const compression = buf.readUInt32LE(30);
  const height = Math.abs(rawHeight);
  const topDown = rawHeight < 0;
  if (width < 1 || height < 1) throw new ImageError(name, `not a supported image (BMP size ${width}×${rawHeight})`);
  if (width * height > maxPixels) throw overLimit(name, width, height, maxPixels);
  let masks: [number, number, number] | undefined;
  if (compression === 3 || compression === 6) {
    if (bpp !== 16 && bpp !== 32) throw new ImageError(name, `not a supported image (BMP bitfields at ${bpp} bits)`);
    masks = [buf.readUInt32LE(54), buf.readUInt32LE(58), buf.readUInt32LE(62)];
  } else if (compression !== 0) {
    throw new ImageError(name, `not a supported image (compressed BMP, method ${compression})`);
  } else if (![1, 4, 8, 24, 32].includes(bpp)) {
    throw new ImageError(name, `not a supported image (BMP at ${bpp} bits per pixel)`);
  } else if (bpp === 32) {
    masks = [0xff0000, 0xff00, 0xff];
  } else if (bpp === 16) {
    masks = [0x7c00, 0x3e0, 0x1f];
  }
  let palette: Uint8Array | undefined;
  if (bpp <= 8) {
    const colours = buf.readUInt32LE(46) || 1 << bpp;
    const start = 14 + headerSize;
    if (start + colours * 4 > buf.length) throw new ImageError(name, 'not a supported image (BMP palette truncated)');
    palette = new Uint8Array(colours * 3);
    for (let i = 0; i < colours; i++) {
      palette[i * 3] = buf[start + i * 4 + 2];
      palette[i * 3 + 1] = buf[start + i * 4 + 1];
      palette[i * 3 + 2] = buf[start + i * 4];
    }
  }
  const stride = Math.floor((bpp * width + 31) / 32) * 4;
  if (dataOffset + stride * height > buf.length) throw new ImageError(name, 'not a supported image (BMP pixel data truncated)');
  const out = new Uint8Array(width * height * 3);
  const m = masks?.map(maskShift);
  for (let y = 0; y < height; y++) {
    const row = dataOffset + (topDown ? y : height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      if (palette) {
        const bit = x * bpp;
        const byte = buf[row + (bit >> 3)];
        const idx = bpp === 8 ? byte : (byte >> (8 - bpp - (bit & 7))) & ((1 << bpp) - 1);
        const p = Math.min(idx, palette.length / 3 - 1) * 3;
        out[o] = palette[p];
        out[o + 1] = palette[p + 1];
        out[o + 2] = palette[p + 2];
      } else if (bpp === 24) {
        const p = row + x * 3;
        out[o] = buf[p + 2];
        out[o + 1] = buf[p + 1];
        out[o + 2] = buf[p];
      } else if (masks && m) {
        const v = bpp === 32 ? buf.readUInt32LE(row + x * 4) : buf.readUInt16LE(row + x * 2);
        for (let c = 0; c < 3; c++) {
          const { shift, max } = m[c];
          out[o + c] = max === 0 ? 0 : Math.round((((v & masks[c]) >>> shift) * 255) / max);
        }
      }
    }
  }
  return { data: out, width, height };
}
