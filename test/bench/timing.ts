/** Median of `xs` (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((p, q) => p - q);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Wall-clock milliseconds of each of `runs` calls of `f` in turn, after `warmUp` calls that are not timed. */
export async function timeRuns(runs: number, f: () => unknown, warmUp = 0): Promise<number[]> {
  for (let i = 0; i < warmUp; i++) await f();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await f();
    times.push(performance.now() - t0);
  }
  return times;
}

/**
 * Milliseconds of `a` and `b` run in turn (A B A B …, `runs` rounds after one untimed round), so
 * other work on the machine hits both sides alike; `pauseMs` between calls.
 */
export async function interleavedRuns(runs: number, a: () => unknown, b: () => unknown, pauseMs = 0): Promise<{ a: number[]; b: number[] }> {
  return interleavedSides(runs, { a, b }, pauseMs);
}

/** {@link interleavedRuns} with any number of sides, run in the order given in every round. */
export async function interleavedSides<K extends string>(runs: number, sides: Record<K, () => unknown>, pauseMs = 0): Promise<Record<K, number[]>> {
  const entries = Object.entries(sides) as [K, () => unknown][];
  const out = Object.fromEntries(entries.map(([k]) => [k, [] as number[]])) as Record<K, number[]>;
  const pause = (): Promise<void> => new Promise((r) => setTimeout(r, pauseMs));
  for (let r = -1; r < runs; r++) {
    for (const [side, f] of entries) {
      await pause();
      const t0 = performance.now();
      await f();
      if (r >= 0) out[side].push(performance.now() - t0);
    }
  }
  return out;
}
