import type Database from 'better-sqlite3';
import { merge } from '../../domain/telemetry/histogram.js';
import type { UsageRow, UsageStore } from '../../ports/usage-store.js';

interface Row {
  instance_id: string;
  bucket_start: number;
  operation: string;
  caller: string;
  status: number;
  code: string;
  count: number;
  records: number;
  bytes_in: number;
  bytes_out: number;
  latency_ms_sum: number;
  histogram: string;
}

const toUsage = (r: Row): UsageRow => ({
  instanceId: r.instance_id,
  bucketStart: r.bucket_start,
  operation: r.operation,
  caller: r.caller,
  status: r.status,
  code: r.code,
  count: r.count,
  records: r.records,
  bytesIn: r.bytes_in,
  bytesOut: r.bytes_out,
  latencyMsSum: r.latency_ms_sum,
  histogram: JSON.parse(r.histogram) as number[],
});

export class SqliteUsageStore implements UsageStore {
  private readonly s: Record<string, Database.Statement>;

  constructor(private readonly db: Database.Database) {
    const p = (sql: string): Database.Statement => db.prepare(sql);
    this.s = {
      get: p('SELECT * FROM usage WHERE instance_id = ? AND bucket_start = ? AND operation = ? AND caller = ? AND status = ? AND code = ?'),
      put: p(
        `INSERT OR REPLACE INTO usage (instance_id, bucket_start, operation, caller, status, code, count, records, bytes_in, bytes_out, latency_ms_sum, histogram)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      range: p('SELECT * FROM usage WHERE instance_id = ? AND bucket_start >= ? AND bucket_start < ? ORDER BY bucket_start'),
      prune: p('DELETE FROM usage WHERE bucket_start < ?'),
    };
  }

  async add(rows: readonly UsageRow[]): Promise<void> {
    this.db.transaction(() => {
      for (const r of rows) {
        const key = [r.instanceId, r.bucketStart, r.operation, r.caller, r.status, r.code] as const;
        const old = this.s['get']!.get(...key) as Row | undefined;
        const hist = [...r.histogram];
        if (old) merge(hist, JSON.parse(old.histogram) as number[]);
        this.s['put']!.run(
          ...key,
          r.count + (old?.count ?? 0),
          r.records + (old?.records ?? 0),
          r.bytesIn + (old?.bytes_in ?? 0),
          r.bytesOut + (old?.bytes_out ?? 0),
          r.latencyMsSum + (old?.latency_ms_sum ?? 0),
          JSON.stringify(hist),
        );
      }
    })();
  }

  async range(instanceId: string, from: number, to: number): Promise<UsageRow[]> {
    return (this.s['range']!.all(instanceId, from, to) as Row[]).map(toUsage);
  }

  async deleteBefore(time: number): Promise<void> {
    this.s['prune']!.run(time);
  }
}
