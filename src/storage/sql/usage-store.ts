import type { SqlClient } from './sql-client.js';
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

/** Usage counters per minute bucket in SQL, the same on SQLite and PostgreSQL (nodes add to the same rows). */
export class SqlUsageStore implements UsageStore {
  constructor(private readonly db: SqlClient) {}

  async add(rows: readonly UsageRow[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (const r of rows) {
        const key = [r.instanceId, r.bucketStart, r.operation, r.caller, r.status, r.code];
        // Claim the row first, so that a concurrent writer (another node) waits for this one.
        await tx.run(
          `INSERT INTO usage (instance_id, bucket_start, operation, caller, status, code, count, records, bytes_in, bytes_out, latency_ms_sum, histogram)
           VALUES (?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, '[]') ON CONFLICT (instance_id, bucket_start, operation, caller, status, code) DO NOTHING`,
          key,
        );
        const old = (await tx.get<Row>('SELECT * FROM usage WHERE instance_id = ? AND bucket_start = ? AND operation = ? AND caller = ? AND status = ? AND code = ?', key))!;
        const hist = [...r.histogram];
        merge(hist, JSON.parse(old.histogram) as number[]);
        await tx.run(
          `UPDATE usage SET count = ?, records = ?, bytes_in = ?, bytes_out = ?, latency_ms_sum = ?, histogram = ?
           WHERE instance_id = ? AND bucket_start = ? AND operation = ? AND caller = ? AND status = ? AND code = ?`,
          [r.count + old.count, r.records + old.records, r.bytesIn + old.bytes_in, r.bytesOut + old.bytes_out, r.latencyMsSum + old.latency_ms_sum, JSON.stringify(hist), ...key],
        );
      }
    });
  }

  async range(instanceId: string, from: number, to: number): Promise<UsageRow[]> {
    return (await this.db.all<Row>('SELECT * FROM usage WHERE instance_id = ? AND bucket_start >= ? AND bucket_start < ? ORDER BY bucket_start', [instanceId, from, to])).map(toUsage);
  }

  async deleteBefore(time: number): Promise<void> {
    await this.db.run('DELETE FROM usage WHERE bucket_start < ?', [time]);
  }
}
