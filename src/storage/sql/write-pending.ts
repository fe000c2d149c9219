import type { NewFragment } from '../../ports/profile-store.js';
import type { PendingWrites } from './group-state.js';
import { arrayList, bigintArray, textArray } from './array-params.js';
import type { SqlClient } from './sql-client.js';

/** Rows per statement: each column goes as one array parameter. */
const CHUNK = 5000;

function* chunks<T>(rows: readonly T[]): Generator<T[]> {
  for (let i = 0; i < rows.length; i += CHUNK) yield rows.slice(i, i + CHUNK);
}

/**
 * Writes a group's new rows with one statement per table (PostgreSQL: each column as an array,
 * `unnest`ed), and its merges in one call of `merge_profiles` (migrations 7 and 8), in order. New
 * identities, fragments and activities were free when the transaction looked, so they are plain inserts: one
 * taken meanwhile by another writer breaks its key's uniqueness, a lost race (PgClient throws
 * `TransactionConflict`), and the whole transaction runs again. (`ON CONFLICT DO NOTHING`, which
 * found the same races by counting the rows added, cost PostgreSQL ~4 µs more a row: 11.8–12.1
 * against 7.6–8.3 µs for 4,000-row inserts into a table shaped like identities.)
 */
export async function flushPending(db: SqlClient, p: PendingWrites): Promise<void> {
  for (const rows of chunks(p.profiles)) {
    const at = bigintArray(rows.map((r) => r.at));
    const a = arrayList(textArray(rows.map((r) => r.instanceId)), textArray(rows.map((r) => r.customerId)), at, at);
    await db.run(`INSERT INTO profiles (instance_id, customer_id, created_at, updated_at) SELECT * FROM unnest(${a.sql})`, a.params);
  }
  for (const rows of chunks(p.merges)) {
    const a = arrayList(
      textArray(rows.map((r) => r.instanceId)),
      textArray(rows.map((r) => r.id)),
      textArray(rows.map((r) => r.survivorId)),
      textArray(rows.map((r) => r.absorbedId)),
      textArray(rows.map((r) => r.datasetId)),
      textArray(rows.map((r) => r.recordKey)),
      bigintArray(rows.map((r) => r.at)),
    );
    await db.run(`SELECT merge_profiles(${a.sql})`, a.params);
  }
  for (const rows of chunks(p.identities)) {
    const a = arrayList(textArray(rows.map((r) => r.instanceId)), textArray(rows.map((r) => r.namespace)), textArray(rows.map((r) => r.value)), textArray(rows.map((r) => r.customerId)), bigintArray(rows.map((r) => r.at)));
    await db.run(`INSERT INTO identities (instance_id, namespace, value, customer_id, first_seen) SELECT * FROM unnest(${a.sql})`, a.params);
  }
  const fragments = [...p.fragments.values()];
  // New fragments as plain inserts (a key taken meanwhile is a lost race, as for identities); ones read ahead as stored, upserted.
  for (const rows of chunks(fragments.filter((r) => r.isNew))) await writeFragments(db, rows, '');
  for (const rows of chunks(fragments.filter((r) => !r.isNew))) {
    await writeFragments(
      db,
      rows,
      `ON CONFLICT (instance_id, dataset_id, record_key) DO UPDATE SET customer_id = excluded.customer_id,
         ts = excluded.ts, received_at = excluded.received_at, hash = excluded.hash, record = excluded.record
       WHERE fragments.hash <> excluded.hash OR fragments.customer_id <> excluded.customer_id`,
    );
  }
  for (const rows of chunks(p.activities)) {
    const x = rows.map((r) => r.activity);
    const a = arrayList(
      textArray(rows.map((r) => r.instanceId)),
      textArray(x.map((v) => v.activityId)),
      textArray(x.map((v) => v.datasetId)),
      textArray(x.map((v) => v.customerId)),
      bigintArray(x.map((v) => v.timestamp)),
      textArray(x.map((v) => v.type)),
      textArray(x.map((v) => v.hash)),
      bigintArray(x.map((v) => v.receivedAt)),
      bigintArray(x.map((v) => v.validUntil)),
      textArray(x.map((v) => v.json)),
    );
    await db.run(
      `INSERT INTO activities (instance_id, activity_id, dataset_id, customer_id, ts, type, hash, received_at, valid_until, record)
       SELECT * FROM unnest(${a.sql})`,
      a.params,
    );
  }
}

async function writeFragments(db: SqlClient, rows: ReadonlyArray<{ instanceId: string; fragment: NewFragment }>, onConflict: string): Promise<void> {
  const f = rows.map((r) => r.fragment);
  const a = arrayList(
    textArray(rows.map((r) => r.instanceId)),
    textArray(f.map((x) => x.datasetId)),
    textArray(f.map((x) => x.recordKey)),
    textArray(f.map((x) => x.customerId)),
    bigintArray(f.map((x) => x.timestamp)),
    bigintArray(f.map((x) => x.receivedAt)),
    textArray(f.map((x) => x.hash)),
    textArray(f.map((x) => x.json)),
  );
  await db.run(`INSERT INTO fragments (instance_id, dataset_id, record_key, customer_id, ts, received_at, hash, record) SELECT * FROM unnest(${a.sql}) ${onConflict}`, a.params);
}
