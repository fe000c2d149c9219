import { TransactionConflict } from '../../ports/profile-store.js';
import type { PendingWrites } from './group-state.js';
import type { SqlClient, SqlScalar } from './sql-client.js';

/** Rows per statement: each column goes as one array parameter. */
const CHUNK = 5000;

/** The rows as columns: one array per field. */
const columns = <T,>(rows: readonly T[], ...fields: Array<(row: T) => SqlScalar>): SqlScalar[][] => fields.map((f) => rows.map(f));

/** U+001E (record separator): JSON text never holds it raw (`JSON.stringify` writes it as `\u001e`). */
const SEPARATOR = '\u001e';

/**
 * Records' JSON texts as one parameter, split again by PostgreSQL (`string_to_array(?, chr(30))`):
 * nothing needs escaping. As a `text[]`, pg escaped every quote of every record (two regular
 * expressions a text, ~5 µs a record in the worker) and PostgreSQL took the escapes out again.
 */
function joinedJson(texts: readonly string[]): string {
  for (const t of texts) if (t.includes(SEPARATOR)) throw new Error("a record's JSON text holds a raw U+001E, which JSON text never does");
  return texts.join(SEPARATOR);
}

function* chunks<T>(rows: readonly T[]): Generator<T[]> {
  for (let i = 0; i < rows.length; i += CHUNK) yield rows.slice(i, i + CHUNK);
}

/**
 * Writes a group's new rows with one statement per table (PostgreSQL: each column as an array,
 * `unnest`ed), and its merges in one call of `merge_profiles` (migrations 7 and 8), in order. New
 * identities and activities were free when the transaction looked; one taken meanwhile by
 * another writer is a lost race, and the whole transaction runs again.
 */
export async function flushPending(db: SqlClient, p: PendingWrites): Promise<void> {
  for (const rows of chunks(p.profiles)) {
    await db.run(
      'INSERT INTO profiles (instance_id, customer_id, created_at, updated_at) SELECT * FROM unnest(?::text[], ?::text[], ?::bigint[], ?::bigint[])',
      columns(rows, (r) => r.instanceId, (r) => r.customerId, (r) => r.at, (r) => r.at),
    );
  }
  for (const rows of chunks(p.merges)) {
    await db.run('SELECT merge_profiles(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[])', columns(rows, (r) => r.instanceId, (r) => r.id, (r) => r.survivorId, (r) => r.absorbedId, (r) => r.datasetId, (r) => r.recordKey, (r) => r.at));
  }
  for (const rows of chunks(p.identities)) {
    const added = await db.all<{ one: number }>(
      `INSERT INTO identities (instance_id, namespace, value, customer_id, first_seen) SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[])
       ON CONFLICT DO NOTHING RETURNING 1 AS one`,
      columns(rows, (r) => r.instanceId, (r) => r.namespace, (r) => r.value, (r) => r.customerId, (r) => r.at),
    );
    if (added.length < rows.length) throw new TransactionConflict('an identity this group links was linked by another writer meanwhile');
  }
  for (const rows of chunks([...p.fragments.values()])) {
    await db.run(
      `INSERT INTO fragments (instance_id, dataset_id, record_key, customer_id, ts, received_at, hash, record)
       SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::bigint[], ?::text[], string_to_array(?, chr(30)))
       ON CONFLICT (instance_id, dataset_id, record_key) DO UPDATE SET customer_id = excluded.customer_id,
         ts = excluded.ts, received_at = excluded.received_at, hash = excluded.hash, record = excluded.record
       WHERE fragments.hash <> excluded.hash OR fragments.customer_id <> excluded.customer_id`,
      [
        ...columns(rows, (r) => r.instanceId, (r) => r.fragment.datasetId, (r) => r.fragment.recordKey, (r) => r.fragment.customerId, (r) => r.fragment.timestamp, (r) => r.fragment.receivedAt, (r) => r.fragment.hash),
        joinedJson(rows.map((r) => r.fragment.json)),
      ],
    );
  }
  for (const rows of chunks(p.activities)) {
    const added = await db.all<{ one: number }>(
      `INSERT INTO activities (instance_id, activity_id, dataset_id, customer_id, ts, type, hash, received_at, valid_until, record)
       SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[], ?::text[], ?::text[], ?::bigint[], ?::bigint[], string_to_array(?, chr(30)))
       ON CONFLICT DO NOTHING RETURNING 1 AS one`,
      [
        ...columns(rows, (r) => r.instanceId, (r) => r.activity.activityId, (r) => r.activity.datasetId, (r) => r.activity.customerId, (r) => r.activity.timestamp, (r) => r.activity.type, (r) => r.activity.hash, (r) => r.activity.receivedAt, (r) => r.activity.validUntil),
        joinedJson(rows.map((r) => r.activity.json)),
      ],
    );
    if (added.length < rows.length) throw new TransactionConflict('an activity this group adds was added by another writer meanwhile');
  }
}
