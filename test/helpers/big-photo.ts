import sharp from 'sharp';

/**
 * Writes a side×side one-bit PNG at `file` (10000: the 100 MP pixel limit, a few tens of KB on disk):
 * white, with twenty black 200×200 squares spread over it, the same for every run.
 */
export async function writeBigBitonalPng(file: string, side: number): Promise<void> {
  const raw = Buffer.alloc(side * side, 255);
  for (let k = 0; k < 20; k++) {
    const y0 = (k * 1973) % (side - 300);
    const x0 = (k * 3571) % (side - 300);
    for (let y = y0; y < y0 + 200; y++) raw.fill(0, y * side + x0, y * side + x0 + 200);
  }
  await sharp(raw, { raw: { width: side, height: side, channels: 1 }, limitInputPixels: false }).png({ palette: true, colours: 2 }).toFile(file);
}
