/**
 * The batch's CSV files (summary.csv, detections.csv): rows in photo order although photos finish
 * out of order, streamed to a temporary file and moved into place at the end.
 */
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { tempName } from './atomic';
import { OutputError, writeFileNoClobber } from './export';

/** One CSV field (RFC 4180 quoting when needed); numbers to 6 decimals, non-finite ones empty. */
export function csvField(v: string | number | undefined): string {
  if (v === undefined) return '';
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(Math.round(v * 1e6) / 1e6) : '') : v;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One CSV line with its newline. */
export function csvLine(values: (string | number | undefined)[]): string {
  return values.map(csvField).join(',') + '\n';
}

/** A CSV file written in photo order (rows may arrive out of order) to a temporary file, moved into place at the end. */
export class OrderedCsv {
  private pending = new Map<number, string>();
  private next = 0;
  private chain: Promise<void> = Promise.resolve();
  private constructor(readonly file: string, private readonly tmp: string, private readonly fh: fs.FileHandle) {}

  /** Opens the temporary file next to `file` and writes the header line. */
  static async open(file: string, header: string): Promise<OrderedCsv> {
    const tmp = tempName(file);
    const fh = await fs.open(tmp, 'wx');
    await fh.write(header);
    return new OrderedCsv(file, tmp, fh);
  }

  /** Rows of photo `index` ('' for none); every index from 0 must be put exactly once (skipped ones too). */
  put(index: number, rows: string): void {
    this.pending.set(index, rows);
    let text = '';
    while (this.pending.has(this.next)) {
      text += this.pending.get(this.next);
      this.pending.delete(this.next++);
    }
    if (text) this.chain = this.chain.then(() => this.fh.write(text).then(() => undefined));
  }

  /**
   * Flushes, closes and moves the file into place: with `overwrite` under its own name or `into`
   * (replacing), else under the first free name of "<stem>.csv", "<stem>-2.csv"…
   * @param into with `overwrite`, the file to replace (an earlier run's "<stem>-2.csv"); default the file's own name.
   * @returns the path written. @throws OutputError.
   */
  async finish(overwrite: boolean, into = this.file): Promise<string> {
    const rest = [...this.pending.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]).join('');
    this.pending.clear();
    this.chain = this.chain.then(() => (rest ? this.fh.write(rest).then(() => undefined) : undefined));
    try {
      await this.chain;
      await this.fh.close();
      if (overwrite) {
        await fs.rename(this.tmp, into);
        return into;
      }
      const ext = path.extname(this.file);
      const stem = this.file.slice(0, -ext.length);
      for (let n = 1; n < 100_000; n++) {
        const f = n === 1 ? this.file : `${stem}-${n}${ext}`;
        if (await writeFileNoClobber(f, () => createReadStream(this.tmp))) return f;
      }
      throw new Error(`no free name for ${this.file}`);
    } catch (err) {
      throw new OutputError(this.file, err);
    } finally {
      await fs.rm(this.tmp, { force: true });
    }
  }

  /** Closes and removes the temporary file (nothing is written under the final name). */
  async discard(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    await fs.rm(this.tmp, { force: true });
  }
}
