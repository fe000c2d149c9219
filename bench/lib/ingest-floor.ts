import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newId } from '../../src/domain/ids.js';
import { openDatabase } from '../../src/storage/sqlite/open.js';
import { openPostgres } from '../../src/storage/postgres/open.js';
import { cpuSecondsOfCommand } from './harness.js';
import { traffic, type Message } from './traffic.js';

/**
 * The storage floor of the ingest traffic: each message's rows written straight into Tessera's own
 * tables (real migrations and pragmas), in groups of 1,400 records a transaction, with nothing else
 * around them: the lookups of the group's identities, the new profiles, the identities, the
 * fragments (keyed by their primary identity: new ones inserted, known ones upserted) and the activities. A record takes the profile of
 * the first of its identities already known and never merges two: the merges the traffic causes
 * are left out, so this is a lower bound of what applying it costs the store. Only the writes are
 * timed (the traffic is generated and turned into rows between them).
 */
export interface IngestFloor {
  messagesPerSecond: number;
  /** PostgreSQL only: CPU of every `postgres` process, per message. */
  postgresCpuUsPerMessage?: number;
}

const GROUP = 1400;
const HASH = 'q3Jm0zN5c2t1bWJlcnNhbmRsZXR0ZXJz';

interface Identity {
  namespace: string;
  value: string;
  customerId: string;
}
interface Row {
  key: string;
  customerId: string;
  record: string;
  /** Fragments: not written by an earlier group (PostgreSQL inserts these plainly, as the worker does). */
  isNew?: boolean;
}
/** One transaction's rows. */
interface FloorGroup {
  messages: number;
  lookups: Identity[];
  profiles: string[];
  identities: Identity[];
  fragments: Row[];
  activities: Row[];
}

/** The traffic of `people` as the rows each group of it writes (customer ids time-ordered, as Tessera's). */
function* floorGroups(people: number): Generator<FloorGroup> {
  const owners = new Map<string, string>();
  const stored = new Set<string>();
  let group: Message[] = [];
  const rowsOf = (messages: readonly Message[]): FloorGroup => {
    const g: FloorGroup = { messages: messages.length, lookups: [], profiles: [], identities: [], fragments: [], activities: [] };
    // By primary identity: a later record of the same key in the group replaces the earlier one.
    const fragments = new Map<string, Row>();
    for (const m of messages) {
      const identityMap = m.record['identityMap'] as Record<string, Array<{ id: string }>>;
      const keys = Object.entries(identityMap).map(([namespace, [first]]) => ({ namespace, value: first!.id.toLowerCase(), key: `${namespace}:${first!.id.toLowerCase()}` }));
      let customerId = keys.map((k) => owners.get(k.key)).find((c) => c !== undefined);
      if (customerId === undefined) g.profiles.push((customerId = newId()));
      for (const k of keys) {
        g.lookups.push({ namespace: k.namespace, value: k.value, customerId });
        if (owners.has(k.key)) continue;
        owners.set(k.key, customerId);
        g.identities.push({ namespace: k.namespace, value: k.value, customerId });
      }
      const record = JSON.stringify(m.record);
      const id = m.record['_id'];
      if (typeof id === 'string') g.activities.push({ key: id, customerId, record });
      else fragments.set(keys[0]!.key, { key: keys[0]!.key, customerId, record, isNew: !stored.has(keys[0]!.key) });
    }
    g.fragments = [...fragments.values()];
    for (const key of fragments.keys()) stored.add(key);
    return g;
  };
  for (const m of traffic({ people, profileDataset: 'crm', eventDataset: 'events' })) {
    group.push(m);
    if (group.length === GROUP) {
      yield rowsOf(group);
      group = [];
    }
  }
  if (group.length > 0) yield rowsOf(group);
}

/** On SQLite (the writer's pragmas, a fresh file): a statement a row, as the embedded writer runs them. */
export function measureSqliteFloor(people: number): IngestFloor {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-floor-'));
  const db = openDatabase(join(dir, 'floor.db'), { writer: true });
  try {
    const lookup = db.prepare('SELECT customer_id FROM identities WHERE instance_id = ? AND namespace = ? AND value = ?');
    const profile = db.prepare('INSERT INTO profiles (instance_id, customer_id, created_at, updated_at) VALUES (?, ?, ?, ?)');
    const identity = db.prepare('INSERT OR IGNORE INTO identities (instance_id, namespace, value, customer_id, first_seen) VALUES (?, ?, ?, ?, ?)');
    const fragment = db.prepare(
      "INSERT INTO fragments (instance_id, dataset_id, record_key, customer_id, ts, received_at, hash, record) VALUES ('default', 'crm', ?, ?, ?, ?, ?, ?) ON CONFLICT (instance_id, dataset_id, record_key) DO UPDATE SET record = excluded.record, ts = excluded.ts, hash = excluded.hash",
    );
    const activity = db.prepare("INSERT OR IGNORE INTO activities (instance_id, activity_id, dataset_id, customer_id, ts, type, hash, received_at, record) VALUES ('default', ?, 'events', ?, ?, 'event', ?, ?, ?)");
    const write = db.transaction((g: FloorGroup, now: number) => {
      for (const i of g.lookups) lookup.get('default', i.namespace, i.value);
      for (const p of g.profiles) profile.run('default', p, now, now);
      for (const i of g.identities) identity.run('default', i.namespace, i.value, i.customerId, now);
      for (const f of g.fragments) fragment.run(f.key, f.customerId, now, now, HASH, f.record);
      for (const a of g.activities) activity.run(a.key, a.customerId, now, HASH, now, a.record);
    });
    let messages = 0;
    let seconds = 0;
    for (const g of floorGroups(people)) {
      const started = performance.now();
      write(g, Date.now());
      seconds += (performance.now() - started) / 1000;
      messages += g.messages;
    }
    return { messagesPerSecond: messages / seconds };
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** On PostgreSQL (a fresh schema, dropped afterwards): set-based, a statement a table, on one connection, as the worker writes. */
export async function measurePostgresFloor(url: string, people: number): Promise<IngestFloor> {
  const schema = `bench_floor_${Date.now().toString(36)}`;
  const pool = await openPostgres({ url, schema, maxConnections: 1 });
  const db = await pool.connect();
  const col = <T>(rows: readonly T[], ...fields: Array<keyof T>): unknown[][] => fields.map((f) => rows.map((r) => r[f]));
  try {
    let messages = 0;
    let seconds = 0;
    const cpuAtStart = cpuSecondsOfCommand('postgres');
    for (const g of floorGroups(people)) {
      const started = performance.now();
      const now = Date.now();
      await db.query('BEGIN');
      // An index probe a key, as the worker looks them up (a plain join was planned as a scan of every identity once the table grew).
      await db.query(
        "SELECT u.ns, u.v, i.customer_id FROM unnest($1::text[], $2::text[]) AS u(ns, v) CROSS JOIN LATERAL (SELECT customer_id FROM identities WHERE instance_id = 'default' AND namespace = u.ns AND value = u.v LIMIT 1) i",
        col(g.lookups, 'namespace', 'value'),
      );
      // New identities and activities as plain inserts, as the worker writes them (their keys were free when looked up).
      await db.query("INSERT INTO profiles (instance_id, customer_id, created_at, updated_at) SELECT 'default', id, $2, $2 FROM unnest($1::text[]) AS u(id)", [g.profiles, now]);
      await db.query(
        "INSERT INTO identities (instance_id, namespace, value, customer_id, first_seen) SELECT 'default', ns, v, c, $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS u(ns, v, c)",
        [...col(g.identities, 'namespace', 'value', 'customerId'), now],
      );
      const fragmentSql = "INSERT INTO fragments (instance_id, dataset_id, record_key, customer_id, ts, received_at, hash, record) SELECT 'default', 'crm', k, c, $4, $4, $5, r FROM unnest($1::text[], $2::text[], $3::text[]) AS u(k, c, r)";
      await db.query(fragmentSql, [...col(g.fragments.filter((f) => f.isNew), 'key', 'customerId', 'record'), now, HASH]);
      await db.query(`${fragmentSql} ON CONFLICT (instance_id, dataset_id, record_key) DO UPDATE SET record = excluded.record, ts = excluded.ts, hash = excluded.hash`, [
        ...col(g.fragments.filter((f) => !f.isNew), 'key', 'customerId', 'record'),
        now,
        HASH,
      ]);
      await db.query(
        "INSERT INTO activities (instance_id, activity_id, dataset_id, customer_id, ts, type, hash, received_at, record) SELECT 'default', id, 'events', c, $4, 'event', $5, $4, r FROM unnest($1::text[], $2::text[], $3::text[]) AS u(id, c, r)",
        [...col(g.activities, 'key', 'customerId', 'record'), now, HASH],
      );
      await db.query('COMMIT');
      seconds += (performance.now() - started) / 1000;
      messages += g.messages;
    }
    return { messagesPerSecond: messages / seconds, postgresCpuUsPerMessage: ((cpuSecondsOfCommand('postgres') - cpuAtStart) * 1e6) / messages };
  } finally {
    await db.query('ROLLBACK'); // a group that failed (outside one, a warning only)
    db.release();
    await pool.query(`DROP SCHEMA ${schema} CASCADE`);
    await pool.end();
  }
}
