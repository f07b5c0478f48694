/**
 * Bench case `decode-process`: what decoding in a killable child process (main/io/decode-host)
 * costs against decoding in-process (decodePhoto), photo by photo, interleaved (A B A B …) so other
 * load hits both sides alike. The difference is the transfer of the photo's bytes there and of its
 * pixels back (one copy each way over a socket) plus a message round trip; the process start is
 * paid once (`firstDecodeWithStartMs`, and a batch starts it while the model loads).
 */
import sharp from 'sharp';
import { decodePhoto } from '../../main/io/decode';
import { DecodeProcesses } from '../../main/io/decode-host';
import { interleavedRuns, median } from './timing';

/** A photo-like pattern (gradients and a fine texture) of w × h, encoded as `format`. */
async function pattern(w: number, h: number, format: 'jpeg' | 'png'): Promise<Buffer> {
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0, i = 0; y < h; y++) {
    for (let x = 0; x < w; x++, i += 3) {
      const t = ((x * 2654435761) ^ (y * 40503)) >>> 27;
      raw[i] = ((x * 255) / w + t) & 255;
      raw[i + 1] = ((y * 255) / h + t) & 255;
      raw[i + 2] = (((x + y) * 128) / (w + h) + 2 * t) & 255;
    }
  }
  const img = sharp(raw, { raw: { width: w, height: h, channels: 3 } });
  return format === 'jpeg' ? img.jpeg({ quality: 90 }).toBuffer() : img.png().toBuffer();
}

export async function decodeProcess(runs: number): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { case: 'decode-process' };
  const pool = new DecodeProcesses(1);
  try {
    for (const [label, w, h, format] of [['jpeg-12mp', 4000, 3000, 'jpeg'], ['png-1mp', 1200, 900, 'png']] as const) {
      const bytes = await pattern(w, h, format);
      const name = `${label}.${format}`;
      if (label === 'jpeg-12mp') {
        const t0 = performance.now();
        await pool.decode(bytes, { name, maxPixels: 1e8 });
        out.firstDecodeWithStartMs = Math.round(performance.now() - t0);
      }
      const t = await interleavedRuns(Math.max(runs, 5), () => decodePhoto(bytes, { name }), () => pool.decode(bytes, { name, maxPixels: 1e8 }));
      const inProcess = median(t.a);
      const child = median(t.b);
      out[label] = { fileMB: +(bytes.length / 2 ** 20).toFixed(1), pixelsMB: +((w * h * 3) / 2 ** 20).toFixed(1), inProcessMs: Math.round(inProcess), childProcessMs: Math.round(child), extraMs: Math.round(child - inProcess) };
    }
  } finally {
    pool.close();
  }
  return out;
}
