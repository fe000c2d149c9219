import type { SqlClient } from './sql-client.js';
import { merge } from '../../domain/telemetry/histogram.js';
import { usageKey, usageKeyValues, type UsageRow, type UsageStore } from '../../ports/usage-store.js';

const KEY_COLUMNS = 'instance_id, bucket_start, operation, caller, status, code';
/** Rows written by one statement (12 parameters each: well within SQLite's and PostgreSQL's limits). */
const ROWS_PER_STATEMENT = 500;

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

  /** All of the rows or none (one transaction), so that rows that could not be added can be added again. */
  async add(rows: readonly UsageRow[]): Promise<void> {
    // In a fixed order, so that two nodes adding the same rows lock them in the same order.
    const sorted = rows.map((r) => ({ r, key: usageKey(r) })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((x) => x.r);
    await this.db.transaction(async (tx) => {
      for (let i = 0; i < sorted.length; i += ROWS_PER_STATEMENT) await addSome(tx, sorted.slice(i, i + ROWS_PER_STATEMENT));
    });
  }

  async range(instanceId: string, from: number, to: number): Promise<UsageRow[]> {
    return (await this.db.all<Row>('SELECT * FROM usage WHERE instance_id = ? AND bucket_start >= ? AND bucket_start < ? ORDER BY bucket_start', [instanceId, from, to])).map(toUsage);
  }

  async deleteBefore(time: number): Promise<void> {
    await this.db.run('DELETE FROM usage WHERE bucket_start < ?', [time]);
  }
}

/**
 * Three statements however many rows: claim and lock them (a concurrent writer, another node,
 * waits for this one), read what they hold, write the sums. (On the embedded backend each is a
 * round trip to the writer thread, whose queue the transaction holds meanwhile.)
 */
async function addSome(tx: SqlClient, rows: readonly UsageRow[]): Promise<void> {
  await tx.run(
    `INSERT INTO usage (${KEY_COLUMNS}, count, records, bytes_in, bytes_out, latency_ms_sum, histogram)
     VALUES ${rows.map(() => "(?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, '[]')").join(', ')}
     ON CONFLICT (${KEY_COLUMNS}) DO UPDATE SET count = usage.count`,
    rows.flatMap(usageKeyValues),
  );
  const instances = [...new Set(rows.map((r) => r.instanceId))];
  const buckets = [...new Set(rows.map((r) => r.bucketStart))];
  const held = await tx.all<Row>(
    `SELECT * FROM usage WHERE instance_id IN (${instances.map(() => '?').join(', ')}) AND bucket_start IN (${buckets.map(() => '?').join(', ')})`,
    [...instances, ...buckets],
  );
  const old = new Map(held.map((h) => toUsage(h)).map((u) => [usageKey(u), u]));
  const values: Array<string | number> = [];
  for (const r of rows) {
    const was = old.get(usageKey(r))!;
    const hist = [...r.histogram];
    merge(hist, was.histogram);
    values.push(...usageKeyValues(r), r.count + was.count, r.records + was.records, r.bytesIn + was.bytesIn, r.bytesOut + was.bytesOut, r.latencyMsSum + was.latencyMsSum, JSON.stringify(hist));
  }
  await tx.run(
    `INSERT INTO usage (${KEY_COLUMNS}, count, records, bytes_in, bytes_out, latency_ms_sum, histogram)
     VALUES ${rows.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}
     ON CONFLICT (${KEY_COLUMNS}) DO UPDATE SET count = excluded.count, records = excluded.records, bytes_in = excluded.bytes_in,
       bytes_out = excluded.bytes_out, latency_ms_sum = excluded.latency_ms_sum, histogram = excluded.histogram`,
    values,
  );
}
