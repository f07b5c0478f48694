/**
 * The batch's CSV files (summary.csv, detections.csv): rows in photo order although photos finish
 * out of order, streamed to a temporary file and moved into place at the end.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { linkNoClobber, OutputError, tempName } from '../io/atomic';

/**
 * Text cells a spreadsheet would run as a formula (OWASP "CSV injection"): those starting with
 * = + - @, a tab or a carriage return, also after leading spaces, which Excel and LibreOffice skip.
 */
const FORMULA_START = /^[ ]*[=+\-@\t\r\uff1d\uff0b\uff0d\uff20]/;

/**
 * One CSV field (RFC 4180 quoting when needed); numbers to 6 decimals, non-finite ones empty. Text
 * that a spreadsheet would take for a formula (a label `=HYPERLINK(…)`, a photo named "+cmd…") is
 * kept as text by a leading apostrophe, whichever column it is in.
 */
export function csvField(v: string | number | undefined): string {
  if (v === undefined) return '';
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(Math.round(v * 1e6) / 1e6) : '') : FORMULA_START.test(v) ? `'${v}` : v;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One CSV line with its newline. */
export function csvLine(values: (string | number | undefined)[]): string {
  return values.map(csvField).join(',') + '\n';
}

/**
 * A CSV file written in photo order (rows may arrive out of order) to a temporary file, moved into
 * place at the end. Every write's byte count is checked: the first write that fails or falls short
 * (a full disk, a file size limit) cuts the file back to its last whole row and ends the writing, so
 * the file stays parseable and holds a prefix of the rows; {@link incomplete} then says why, and the
 * caller says the CSV is incomplete.
 */
export class OrderedCsv {
  private pending = new Map<number, string>();
  private next = 0;
  private chain: Promise<void> = Promise.resolve();
  /** Bytes of whole rows in the temporary file. */
  private written = 0;
  /** Rows put after the first failed write (not in the file). */
  private lost = 0;
  private failure: string | undefined;
  private constructor(readonly file: string, private readonly tmp: string, private readonly fh: fs.FileHandle) {}

  /**
   * Opens the temporary file next to `file` and writes the header line.
   * @throws the write's error (ENOSPC, EFBIG…), the temporary file removed.
   */
  static async open(file: string, header: string): Promise<OrderedCsv> {
    const tmp = tempName(file);
    const fh = await fs.open(tmp, 'wx');
    const csv = new OrderedCsv(file, tmp, fh);
    try {
      await writeAll(fh, Buffer.from(header, 'utf8'), 0);
    } catch (err) {
      await csv.discard();
      throw err;
    }
    csv.written = Buffer.byteLength(header, 'utf8');
    return csv;
  }

  /**
   * Why the file lacks rows ("rows of 3 photos are missing: cannot write …: the disk is full (…)"),
   * or undefined when every row put was written. Known once {@link finish} has returned.
   */
  get incomplete(): string | undefined {
    return this.failure === undefined ? undefined : `rows of ${this.lost} photo${this.lost === 1 ? '' : 's'} are missing: ${this.failure}`;
  }

  /** Rows of photo `index` ('' for none); every index from 0 must be put exactly once (skipped ones too). */
  put(index: number, rows: string): void {
    this.pending.set(index, rows);
    let text = '';
    let count = 0;
    while (this.pending.has(this.next)) {
      text += this.pending.get(this.next);
      this.pending.delete(this.next++);
      count++;
    }
    if (text) this.append(text, count);
  }

  private append(text: string, rows: number): void {
    this.chain = this.chain.then(async () => {
      if (this.failure !== undefined) {
        this.lost += rows;
        return;
      }
      const bytes = Buffer.from(text, 'utf8');
      try {
        await writeAll(this.fh, bytes, this.written);
        this.written += bytes.length;
      } catch (err) {
        this.failure = new OutputError(this.tmp, err).message.replace(this.tmp, this.file);
        this.lost += rows;
        // Back to the last whole row: a cut row glued to the next would shift every later column.
        await this.fh.truncate(this.written).catch(() => undefined);
      }
    });
  }

  /**
   * Flushes, closes and moves the file into place: with `overwrite` under its own name or `into`
   * (replacing), else under the first free name of "<stem>.csv", "<stem>-2.csv"… Moving needs no
   * free space (a rename, or a hard link for the no-clobber names), so it also succeeds on the full
   * disk that cut the file short.
   * @param into with `overwrite`, the file to replace (an earlier run's "<stem>-2.csv"); default the file's own name.
   * @returns the path written. @throws OutputError.
   */
  async finish(overwrite: boolean, into = this.file): Promise<string> {
    const rest = [...this.pending.entries()].sort((a, b) => a[0] - b[0]);
    this.pending.clear();
    if (rest.length > 0) this.append(rest.map((e) => e[1]).join(''), rest.length);
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
        if (await linkNoClobber(this.tmp, f)) return f;
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

/**
 * Writes all of `bytes` at `position`, again after a short write; a write that makes no progress
 * is an error (a short write is how a full disk or a file size limit first shows).
 */
async function writeAll(fh: fs.FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let at = 0;
  while (at < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, at, bytes.length - at, position + at);
    if (bytesWritten <= 0) throw Object.assign(new Error(`ENOSPC: wrote ${at} of ${bytes.length} bytes`), { code: 'ENOSPC' });
    at += bytesWritten;
  }
}

