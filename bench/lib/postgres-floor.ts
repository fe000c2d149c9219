import { randomUUID } from 'node:crypto';
import { openPostgres } from '../../src/storage/postgres/open.js';
import { cpuSecondsOfCommand } from './harness.js';
import { traffic, type Message } from './traffic.js';

/** Records per transaction: about what the worker takes from the log at once under load. */
const GROUP = 1400;

export interface PostgresFloor {
  messagesPerSecond: number;
  /** CPU of every `postgres` process, per message. */
  postgresCpuUsPerMessage: number;
}

const HASH = 'q3Jm0zN5c2t1bWJlcnNhbmRsZXR0ZXJz';

/**
 * The PostgreSQL floor of the ingest traffic: each message's rows written straight into Tessera's
 * own tables (real migrations, a fresh schema), set-based in groups of 1,400 records a transaction
 * as the worker writes them, on one connection, with nothing else around it: one lookup of the
 * group's identities, the new profiles, the identities, the fragments (upserted by their primary
 * identity) and the activities. A record takes the profile of the first of its identities already
 * known, and never merges two (the merges the traffic causes are left out, so this is a lower bound
 * of what applying it must cost).
 */
export async function measurePostgresFloor(url: string, people: number): Promise<PostgresFloor> {
  const schema = `bench_floor_${Date.now().toString(36)}`;
  const pool = await openPostgres({ url, schema, maxConnections: 1 });
  const db = await pool.connect();
  try {
    const owners = new Map<string, string>();
    let messages = 0;
    const cpuAtStart = cpuSecondsOfCommand('postgres');
    const started = performance.now();
    const write = async (group: readonly Message[]): Promise<void> => {
      const ids = { ns: [] as string[], value: [] as string[], customer: [] as string[] };
      const profiles: string[] = [];
      // By primary identity: a later record of the same key in the group replaces the earlier one.
      const fragmentsByKey = new Map<string, { customer: string; record: string }>();
      const activities = { id: [] as string[], customer: [] as string[], record: [] as string[] };
      for (const m of group) {
        const identityMap = m.record['identityMap'] as Record<string, Array<{ id: string }>>;
        const keys = Object.entries(identityMap).map(([ns, [first]]) => `${ns}:${first!.id.toLowerCase()}`);
        let customer = keys.map((k) => owners.get(k)).find((c) => c !== undefined);
        if (customer === undefined) profiles.push((customer = randomUUID()));
        for (const k of keys) {
          if (owners.has(k)) continue;
          owners.set(k, customer);
          const colon = k.indexOf(':');
          ids.ns.push(k.slice(0, colon));
          ids.value.push(k.slice(colon + 1));
          ids.customer.push(customer);
        }
        const record = JSON.stringify(m.record);
        if (typeof m.record['_id'] !== 'string') fragmentsByKey.set(keys[0]!, { customer, record });
        else {
          activities.id.push(m.record['_id']);
          activities.customer.push(customer);
          activities.record.push(record);
        }
      }
      const fragments = { key: [...fragmentsByKey.keys()], customer: [...fragmentsByKey.values()].map((f) => f.customer), record: [...fragmentsByKey.values()].map((f) => f.record) };
      const now = Date.now();
      await db.query('BEGIN');
      await db.query("SELECT i.customer_id FROM identities i JOIN unnest($1::text[], $2::text[]) AS u(ns, v) ON i.instance_id = 'default' AND i.namespace = u.ns AND i.value = u.v", [ids.ns, ids.value]);
      await db.query("INSERT INTO profiles (instance_id, customer_id, created_at, updated_at) SELECT 'default', id, $2, $2 FROM unnest($1::text[]) AS u(id)", [profiles, now]);
      await db.query("INSERT INTO identities (instance_id, namespace, value, customer_id, first_seen) SELECT 'default', ns, v, c, $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS u(ns, v, c) ON CONFLICT DO NOTHING", [ids.ns, ids.value, ids.customer, now]);
      await db.query(
        "INSERT INTO fragments (instance_id, dataset_id, record_key, customer_id, ts, received_at, hash, record) SELECT 'default', 'crm', k, c, $4, $4, $5, r FROM unnest($1::text[], $2::text[], $3::text[]) AS u(k, c, r) ON CONFLICT (instance_id, dataset_id, record_key) DO UPDATE SET record = excluded.record, ts = excluded.ts, hash = excluded.hash",
        [fragments.key, fragments.customer, fragments.record, now, HASH],
      );
      await db.query(
        "INSERT INTO activities (instance_id, activity_id, dataset_id, customer_id, ts, type, hash, received_at, record) SELECT 'default', id, 'events', c, $4, 'event', $5, $4, r FROM unnest($1::text[], $2::text[], $3::text[]) AS u(id, c, r) ON CONFLICT DO NOTHING",
        [activities.id, activities.customer, activities.record, now, HASH],
      );
      await db.query('COMMIT');
      messages += group.length;
    };
    let group: Message[] = [];
    for (const m of traffic({ people, profileDataset: 'crm', eventDataset: 'events' })) {
      group.push(m);
      if (group.length === GROUP) {
        await write(group);
        group = [];
      }
    }
    if (group.length > 0) await write(group);
    const seconds = (performance.now() - started) / 1000;
    return { messagesPerSecond: messages / seconds, postgresCpuUsPerMessage: ((cpuSecondsOfCommand('postgres') - cpuAtStart) * 1e6) / messages };
  } finally {
    await db.query('ROLLBACK'); // a group that failed (outside one, a warning only)
    db.release();
    await pool.query(`DROP SCHEMA ${schema} CASCADE`);
    await pool.end();
  }
}
