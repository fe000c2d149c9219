/**
 * A fixed log-scale latency histogram: bucket i counts latencies up to BOUNDS[i] ms. Mergeable by
 * adding counts, so minute aggregates roll up into hours, days and groups exactly.
 */
export const BOUNDS_MS: readonly number[] = (() => {
  const out: number[] = [];
  for (let b = 0.1; b < 120_000; b *= 1.2) out.push(Math.round(b * 1000) / 1000);
  out.push(Infinity);
  return out;
})();

export const emptyHistogram = (): number[] => new Array<number>(BOUNDS_MS.length).fill(0);

export function observe(hist: number[], ms: number): void {
  let lo = 0;
  let hi = BOUNDS_MS.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ms <= BOUNDS_MS[mid]!) hi = mid;
    else lo = mid + 1;
  }
  hist[lo]!++;
}

export function merge(into: number[], other: readonly number[]): void {
  for (let i = 0; i < into.length; i++) into[i]! += other[i] ?? 0;
}

/** The range [low, high] in ms that holds the p-th percentile (0 < p ≤ 100). */
export function percentile(hist: readonly number[], p: number): { low: number; high: number } | null {
  const total = hist.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = Math.ceil((p / 100) * total);
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]!;
    if (seen >= rank) return { low: i === 0 ? 0 : BOUNDS_MS[i - 1]!, high: BOUNDS_MS[i]! };
  }
  return null;
}
