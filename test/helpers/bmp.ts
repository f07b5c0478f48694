/**
 * A Windows BMP written by hand: BITMAPINFOHEADER, uncompressed, bottom-up rows padded to 4 bytes.
 * 24 or 32 bits per pixel, or 8 bits through a 256-level grey palette (indexed by the pixel's red).
 * @param pixel the [r, g, b] of pixel (x, y), (0, 0) the top-left.
 */
export function bmpFile(width: number, height: number, pixel: (x: number, y: number) => ArrayLike<number>, bpp: 8 | 24 | 32 = 24): Buffer {
  const stride = Math.floor((bpp * width + 31) / 32) * 4;
  const paletteBytes = bpp === 8 ? 256 * 4 : 0;
  const offset = 54 + paletteBytes;
  const buf = Buffer.alloc(offset + stride * height);
  buf.write('BM', 0, 'latin1');
  buf.writeUInt32LE(buf.length, 2);
  buf.writeUInt32LE(offset, 10);
  buf.writeUInt32LE(40, 14);
  buf.writeInt32LE(width, 18);
  buf.writeInt32LE(height, 22);
  buf.writeUInt16LE(1, 26);
  buf.writeUInt16LE(bpp, 28);
  buf.writeUInt32LE(stride * height, 34);
  if (bpp === 8) {
    buf.writeUInt32LE(256, 46);
    for (let i = 0; i < 256; i++) buf.set([i, i, i, 0], 54 + i * 4);
  }
  for (let y = 0; y < height; y++) {
    const row = offset + (height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const rgb = pixel(x, y);
      if (bpp === 8) buf[row + x] = rgb[0];
      else buf.set([rgb[2], rgb[1], rgb[0]], row + x * (bpp / 8));
    }
  }
  return buf;
}
