/**
 * Exported pictures' fonts are read as the SFNT files their WOFF wraps, inflated by Node's zlib
 * (main/services/glyphs sfntOfWoff): fontkit reading the WOFF itself is the oracle. Every shipped
 * Latin/Cyrillic/Greek, Arabic and a sample of the Korean subsets shape a text of every script to
 * the same glyph outlines and advances.
 */
import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as fontkit from 'fontkit';
import { describe, expect, it } from 'vitest';
import { sfntOfWoff } from '../../main/services/glyphs';

const require = createRequire(import.meta.url);
const TEXT = 'Hello Привет Ωμέγα مرحبا 노마스크 가위 漢字 0123 ½';

async function fontFiles(pkg: string, count: number): Promise<string[]> {
  const dir = path.join(path.dirname(require.resolve(`@fontsource/${pkg}/unicode.json`)), 'files');
  const names = (await fs.readdir(dir)).filter((f) => f.endsWith('-400-normal.woff')).sort();
  const step = Math.max(1, Math.floor(names.length / count));
  return names.filter((_, i) => i % step === 0).slice(0, count).map((f) => path.join(dir, f));
}

function drawn(font: fontkit.Font): { paths: string[]; advances: number[]; unitsPerEm: number } {
  const run = font.layout(TEXT);
  return { paths: run.glyphs.map((g) => g.path.toSVG()), advances: run.positions.map((p) => p.xAdvance), unitsPerEm: font.unitsPerEm };
}

describe('WOFF fonts as SFNT', () => {
  it('draw the glyphs fontkit draws from the WOFF itself', async () => {
    const files = [...(await fontFiles('noto-sans', 12)), ...(await fontFiles('noto-sans-arabic', 4)), ...(await fontFiles('noto-sans-kr', 8))];
    expect(files.length).toBeGreaterThan(12);
    let inked = 0;
    for (const file of files) {
      const woff = await fs.readFile(file);
      const sfnt = sfntOfWoff(woff);
      expect(sfnt.readUInt32BE(0), file).toBe(woff.readUInt32BE(4));
      const want = drawn(fontkit.create(woff) as fontkit.Font);
      expect(drawn(fontkit.create(sfnt) as fontkit.Font), path.basename(file)).toEqual(want);
      if (want.paths.some((p) => p.length > 20)) inked++;
    }
    // The text reaches real outlines in most subsets (not only .notdef boxes).
    expect(inked).toBeGreaterThan(files.length / 2);
  });

  it('passes other bytes through and refuses a table outside the file', () => {
    const ttf = Buffer.from('\u0000\u0001\u0000\u0000rest', 'latin1');
    expect(sfntOfWoff(ttf)).toBe(ttf);
    const woff = Buffer.alloc(64);
    woff.write('wOFF', 0, 'latin1');
    woff.writeUInt16BE(1, 12);
    woff.write('glyf', 44, 'latin1');
    woff.writeUInt32BE(60, 48);
    woff.writeUInt32BE(100, 52);
    woff.writeUInt32BE(100, 56);
    expect(() => sfntOfWoff(woff)).toThrow(/WOFF table glyf lies outside the file/);
  });
});
