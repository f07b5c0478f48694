/**
 * Memory budget of the photos in flight in a batch, counted in bytes: a photo waits until its
 * estimate fits next to those already running; one larger than the whole budget runs alone.
 */

/** A counting semaphore over bytes; a request larger than the whole budget waits for all of it. */
export class MemoryBudget {
  private used = 0;
  private waiters: { n: number; go: () => void }[] = [];
  constructor(readonly total: number) {}

  /** Waits until `n` fits (in arrival order). @returns the amount held, to hand back to release(). */
  async acquire(n: number): Promise<number> {
    const want = Math.min(Math.max(n, 1), this.total);
    if (this.waiters.length === 0 && this.used + want <= this.total) {
      this.used += want;
      return want;
    }
    // release() counts it as used before waking us.
    await new Promise<void>((go) => this.waiters.push({ n: want, go }));
    return want;
  }

  release(n: number): void {
    this.used -= n;
    while (this.waiters.length > 0 && this.used + this.waiters[0].n <= this.total) {
      const w = this.waiters.shift() as { n: number; go: () => void };
      this.used += w.n;
      w.go();
    }
  }
}

/**
 * Bytes one photo holds at its peak in the pipeline, from its size and the model's geometry: the
 * decoded RGB photo, the overlay picture (RGB, plus a band), the score maps of every scale and the
 * averaged grid (float32 per class, with coverage), the encoded file.
 * @param cellsPerScale cells of each scale (rows · cols), e.g. from cellCount of the scaled size.
 */
export function photoMemoryEstimate(width: number, height: number, fileBytes: number, classes: number, cellsPerScale: readonly number[]): number {
  const pixels = width * height;
  const maps = cellsPerScale.reduce((a, c) => a + c, 0) * classes * 4;
  const grid = Math.max(0, ...cellsPerScale) * (classes * 4 + 1);
  return fileBytes + pixels * 3 * 2 + maps + grid;
}
