import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodePhoto, probePhoto } from '../../main/io/decode';
import { PhotoDecoder } from '../../main/services/pipeline';
import { slowSvg } from './bad-inputs';

/**
 * Photos that would hang a decode (issue 19, item 4): vector drawings are refused whatever their
 * name, before librsvg renders a pixel; a decode that is waited for can be cancelled at once.
 */
const REFUSAL = 'an SVG drawing, not a photo: vector images are refused (export it as PNG or JPEG first)';

describe('vector images', () => {
  it.each([
    ['plain', {}],
    ['with an XML declaration and a comment', { prolog: true }],
    ['with a byte-order mark', { bom: true, prolog: true }],
  ])('an SVG (%s) named .png is refused in one line naming it, by the header probe and by the decoder', async (_name, opts) => {
    const bytes = slowSvg(opts);
    expect(bytes.length).toBeLessThan(4096);
    await expect(probePhoto(bytes, { name: 'drawing.png' })).rejects.toThrow(`drawing.png: ${REFUSAL}`);
    await expect(decodePhoto(bytes, { name: 'drawing.png' })).rejects.toThrow(`drawing.png: ${REFUSAL}`);
  });

  it('a gzip-compressed SVG (SVGZ), which no sniff of its bytes can tell, is refused from the format sharp finds', async () => {
    const svgz = gzipSync(slowSvg());
    await expect(probePhoto(svgz, { name: 'drawing.jpg' })).rejects.toThrow(`drawing.jpg: ${REFUSAL}`);
    await expect(decodePhoto(svgz, { name: 'drawing.jpg' })).rejects.toThrow(`drawing.jpg: ${REFUSAL}`);
  });

  it('text that is not an SVG keeps the plain refusal', async () => {
    await expect(decodePhoto(Buffer.from('<html><body>not a photo</body></html>'), { name: 'page.png' })).rejects.toThrow(/^page\.png: not a supported image \(/);
  });
});

describe('cancelling a decode', () => {
  it('rejects the wait with an AbortError at once; the shared decode still serves a caller that did not cancel', async () => {
    // 4000×3000 noise: a decode of a fraction of a second, still running when the abort comes.
    const noise = Buffer.alloc(4000 * 3000 * 3);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
    const png = await sharp(noise, { raw: { width: 4000, height: 3000, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer();
    const decoder = new PhotoDecoder({ keep: 1 });
    const photo = { bytes: png, hash: 'noise', name: 'noise.png' };
    const abort = new AbortController();
    const cancelled = decoder.decode(photo, abort.signal);
    const kept = decoder.decode(photo);
    abort.abort(new Error('cancelled by the test'));
    const first = await Promise.race([cancelled.then(() => 'decoded', (e: Error) => e.name), kept.then(() => 'kept decoded')]);
    expect(first).toBe('AbortError');
    const image = await kept;
    expect([image.width, image.height]).toEqual([4000, 3000]);
    expect(image.data[0]).toBe(noise[0]);
    await expect(decodePhoto(png, { name: 'noise.png', signal: abort.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });
});
