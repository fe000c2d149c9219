import type { Clock } from '../domain/clock.js';
import { invalid } from '../domain/errors.js';
import { emptyHistogram, merge, observe, percentile } from '../domain/telemetry/histogram.js';
import { usageKey, type UsageRow, type UsageStore } from '../ports/usage-store.js';

export interface UsageEvent {
  instanceId: string;
  operation: string;
  caller: string | null;
  status: number;
  code: string | null;
  records: number;
  bytesIn: number;
  bytesOut: number;
  latencyMs: number;
}

export type UsageDimension = 'operation' | 'caller' | 'status' | 'code';
export type UsageInterval = 'minute' | 'hour' | 'day';

const MINUTE = 60_000;
const INTERVAL_MS: Record<UsageInterval, number> = { minute: MINUTE, hour: 60 * MINUTE, day: 24 * 60 * MINUTE };
export const USAGE_RETENTION_MS = 30 * 24 * 60 * MINUTE;

/**
 * API usage telemetry (the "API usage" page of Dynamics, with latency): requests aggregated in
 * memory per instance, minute, operation, caller, status and error code, flushed to the store in
 * batches so that recording costs the request path next to nothing.
 */
export class UsageService {
  private pending = new Map<string, UsageRow>();

  constructor(private readonly deps: { store: UsageStore; clock: Clock }) {}

  record(e: UsageEvent): void {
    const bucketStart = Math.floor(this.deps.clock.now() / MINUTE) * MINUTE;
    const base = { instanceId: e.instanceId, bucketStart, operation: e.operation, caller: e.caller ?? '', status: e.status, code: e.code ?? '' };
    const key = usageKey(base);
    let row = this.pending.get(key);
    if (!row) {
      row = { ...base, count: 0, records: 0, bytesIn: 0, bytesOut: 0, latencyMsSum: 0, histogram: emptyHistogram() };
      this.pending.set(key, row);
    }
    row.count++;
    row.records += e.records;
    row.bytesIn += e.bytesIn;
    row.bytesOut += e.bytesOut;
    row.latencyMsSum += e.latencyMs;
    observe(row.histogram, e.latencyMs);
  }

  /** Writes what was recorded since the last flush; what the store could not take is kept for the next one. */
  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const rows = [...this.pending.values()];
    this.pending = new Map();
    try {
      await this.deps.store.add(rows);
    } catch (err) {
      // The store adds all of the rows or none: they go back, with what was recorded meanwhile.
      for (const row of rows) {
        const key = usageKey(row);
        const since = this.pending.get(key);
        if (since) add(row, since);
        this.pending.set(key, row);
      }
      throw err;
    }
    await this.deps.store.deleteBefore(this.deps.clock.now() - USAGE_RETENTION_MS);
  }

  /** Usage between two times, grouped by the dimensions asked for, with a series per interval. */
  async query(instanceId: string, q: { from?: number; to?: number; groupBy: UsageDimension[]; interval: UsageInterval }) {
    const now = this.deps.clock.now();
    const to = q.to ?? now + MINUTE;
    const from = q.from ?? to - 24 * 60 * MINUTE;
    if (from >= to) throw invalid('invalid_range', 'from must be before to');
    if (to - from > USAGE_RETENTION_MS + INTERVAL_MS.day) throw invalid('invalid_range', 'usage is kept for 30 days; ask for at most that');
    await this.flush();
    const rows = await this.deps.store.range(instanceId, Math.floor(from / MINUTE) * MINUTE, to);
    const step = INTERVAL_MS[q.interval];
    const groups = new Map<string, { key: Record<string, string | number>; total: Agg; series: Map<number, Agg> }>();
    for (const r of rows) {
      const key: Record<string, string | number> = {};
      for (const d of q.groupBy) key[d] = d === 'status' ? r.status : r[d];
      const k = JSON.stringify(key);
      let g = groups.get(k);
      if (!g) groups.set(k, (g = { key, total: newAgg(), series: new Map() }));
      add(g.total, r);
      const t = Math.floor(r.bucketStart / step) * step;
      let s = g.series.get(t);
      if (!s) g.series.set(t, (s = newAgg()));
      add(s, r);
    }
    return {
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      interval: q.interval,
      groupBy: q.groupBy,
      groups: [...groups.values()].map((g) => ({
        ...g.key,
        ...view(g.total),
        series: [...g.series.entries()].sort((a, b) => a[0] - b[0]).map(([t, a]) => ({ start: new Date(t).toISOString(), ...view(a) })),
      })),
    };
  }
}

type Agg = Pick<UsageRow, 'count' | 'records' | 'bytesIn' | 'bytesOut' | 'latencyMsSum' | 'histogram'>;

const newAgg = (): Agg => ({ count: 0, records: 0, bytesIn: 0, bytesOut: 0, latencyMsSum: 0, histogram: emptyHistogram() });

function add(a: Agg, r: UsageRow): void {
  a.count += r.count;
  a.records += r.records;
  a.bytesIn += r.bytesIn;
  a.bytesOut += r.bytesOut;
  a.latencyMsSum += r.latencyMsSum;
  merge(a.histogram, r.histogram);
}

/** Percentiles are given as the histogram bucket that holds them: the true value lies in [low, high]. */
const view = (a: Agg) => ({
  requests: a.count,
  records: a.records,
  bytesIn: a.bytesIn,
  bytesOut: a.bytesOut,
  latencyMs: {
    mean: a.count === 0 ? null : Math.round((a.latencyMsSum / a.count) * 1000) / 1000,
    p50: percentile(a.histogram, 50),
    p95: percentile(a.histogram, 95),
    p99: percentile(a.histogram, 99),
  },
});
