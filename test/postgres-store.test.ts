import Database from 'better-sqlite3';
import pg from 'pg';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/domain/clock.js';
import { TesseraError } from '../src/domain/errors.js';
import { Catalog } from '../src/pipelines/ingest/catalog.js';
import { RefreshService } from '../src/services/refresh.js';
import type { NewActivity, NewFragment } from '../src/ports/profile-store.js';
import { AdvisoryLock } from '../src/storage/postgres/advisory-lock.js';
import { PgClient } from '../src/storage/postgres/pg-client.js';
import { arrayList, bigintArray, textArray } from '../src/storage/sql/array-params.js';
import { SqlControlStore } from '../src/storage/sql/control-store.js';
import { SqlProfileWriter } from '../src/storage/sql/profile-writer.js';
import { SqlRefreshRunStore } from '../src/storage/sql/refresh-run-store.js';
import type { SqlClient } from '../src/storage/sql/sql-client.js';
import { migrate } from '../src/storage/sqlite/migrations.js';
import { SqliteClient } from '../src/storage/sqlite/sqlite-client.js';
import { dropSchema, freshSchema, freshSchemaName, PG_URL, postgresForTests } from './helpers/postgres.js';
import { PG_MIGRATIONS } from '../src/storage/postgres/migrations.js';
import { openPostgres } from '../src/storage/postgres/open.js';

const withPostgres = await postgresForTests();
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

/** A fresh store on each backend, behind the same SqlClient. */
const backends: Array<[string, () => Promise<SqlClient>]> = [
  [
    'sqlite',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tessera-sql-'));
      const db = new Database(join(dir, 'state.db'));
      migrate(db);
      cleanups.push(async () => {
        db.close();
        rmSync(dir, { recursive: true, force: true });
      });
      return new SqliteClient(db);
    },
  ],
  ...(withPostgres
    ? ([
        [
          'postgres',
          async () => {
            const s = await freshSchema();
            cleanups.push(() => s.drop());
            return new PgClient(s.pool);
          },
        ],
      ] as Array<[string, () => Promise<SqlClient>]>)
    : []),
];

const SETTINGS = { mergePolicy: 'timestampOrdered' as const, defaultPhoneRegion: 'US', blockedValues: [], maxIdentitiesPerGraph: 50, realtimeSegmentEvaluation: false };

describe.each(backends)('the control plane on %s', (_name, open) => {
  it('keeps instances, keys (primary and secondary secrets), namespaces, schemas, datasets and unification settings', async () => {
    const control = new SqlControlStore(await open());
    await control.createInstance({ id: 'acme', name: 'Acme', createdAt: 1_700_000_000_000, settings: SETTINGS });
    expect(await control.getInstance('acme')).toEqual({ id: 'acme', name: 'Acme', createdAt: 1_700_000_000_000, settings: SETTINGS, catalogVersion: 0 });
    expect(await control.getInstance('nope')).toBeUndefined();
    await control.createKey({ id: 'k1', instanceId: 'acme', name: 'ops', role: 'admin', createdAt: 1, rotatedAt: null, revokedAt: null, hasSecondary: false }, 'hash-1');
    await control.rotateKey('acme', 'k1', 'hash-2', 5);
    expect(await control.findKeyByHash('hash-2')).toMatchObject({ which: 'primary', key: { id: 'k1', rotatedAt: 5, hasSecondary: true } });
    expect(await control.findKeyByHash('hash-1')).toMatchObject({ which: 'secondary' });
    await control.dropSecondary('acme', 'k1');
    expect(await control.findKeyByHash('hash-1')).toBeUndefined();
    await control.revokeKey('acme', 'k1', 9);
    expect((await control.listKeys('acme')).map((k) => k.revokedAt)).toEqual([9]);
    await control.upsertNamespace('acme', { code: 'crmId', name: 'CRM', normalizer: 'trim', priority: 1, unique: true, builtin: true, aliases: ['CRM'] }, 1);
    await control.upsertNamespace('acme', { code: 'crmId', name: 'CRM id', normalizer: 'trim', priority: 2, unique: true, builtin: true, aliases: [] }, 2);
    expect(await control.listNamespaces('acme')).toEqual([{ code: 'crmId', name: 'CRM id', normalizer: 'trim', priority: 2, unique: true, builtin: true, aliases: [] }]);
    const schema = { instanceId: 'acme', id: 's1', name: 'Person', class: 'profile' as const, jsonSchema: { type: 'object' }, identities: [{ path: 'crmId', namespace: 'crmId', primary: true }], fieldGroups: ['address'], idField: '_id', timestampField: 'timestamp', version: 1, createdAt: 3 };
    await control.createSchema(schema);
    expect(await control.listSchemas('acme')).toEqual([schema]);
    const dataset = { instanceId: 'acme', id: 'd1', name: 'crm', schemaId: 's1', enabledForProfile: true, enabledForIdentity: true, precedence: 1, retentionDays: null, columnMapping: {}, createdAt: 4 };
    await control.createDataset(dataset);
    await control.updateDataset({ ...dataset, precedence: 7, retentionDays: 30, columnMapping: { Surname: 'person.name.lastName' } });
    expect(await control.listDatasets('acme')).toEqual([{ ...dataset, precedence: 7, retentionDays: 30, columnMapping: { Surname: 'person.name.lastName' } }]);
    expect(await control.getUnificationConfig('acme')).toBeUndefined();
    const config = { mode: 'rules' as const, datasets: [{ dataset: 'crm', dedupRules: [{ conditions: [{ field: 'email' }] }] }] };
    await control.putUnificationConfig('acme', config, 5);
    await control.putUnificationConfig('acme', { ...config, enrichment: ['emailDomain'] }, 6);
    expect(await control.getUnificationConfig('acme')).toEqual({ ...config, enrichment: ['emailDomain'] });
    // Every catalog change moved the version on (two namespaces, a schema, two datasets, two unification settings, settings); keys did not.
    await control.updateSettings('acme', SETTINGS);
    expect((await control.getInstance('acme'))?.catalogVersion).toBe(8);
  });
});

describe.skipIf(!withPostgres)('PostgreSQL across nodes', () => {
  it('applies the versioned migrations once, whichever of several starting nodes gets there first', async () => {
    const s = await freshSchema();
    cleanups.push(() => s.drop());
    await Promise.all([s.openAnother(), s.openAnother()]);
    const { rows } = await s.pool.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.map((r) => r.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it("orders text keys bytewise, as SQLite does, on a database with a language's collation (migration 10)", async () => {
    const database = `t_icu_${Date.now().toString(36)}`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en'`);
    const url = new URL(PG_URL);
    url.pathname = `/${database}`;
    let pool: pg.Pool | undefined;
    try {
      pool = await openPostgres({ url: url.toString(), maxConnections: 2 });
      const order = async (db: SqlClient): Promise<string[]> => {
        const control = new SqlControlStore(db);
        await control.createInstance({ id: 'acme', name: 'Acme', createdAt: 1, settings: SETTINGS });
        for (const code of ['b', 'B', 'a', 'A']) await control.upsertNamespace('acme', { code, name: code, normalizer: 'trim', priority: 1, unique: false, builtin: false, aliases: [] }, 1);
        return (await control.listNamespaces('acme')).map((n) => n.code);
      };
      // English orders them a, A, b, B; bytes (and SQLite) A, B, a, b.
      expect(await order(new PgClient(pool))).toEqual(['A', 'B', 'a', 'b']);
      expect(await order(await backends[0]![1]())).toEqual(['A', 'B', 'a', 'b']);
      const { rows } = await pool.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)
         WHERE c.relnamespace = 'public'::regnamespace AND a.atttypid = 'text'::regtype AND a.attcollation <> 'pg_catalog."C"'::regcollation`,
      );
      expect(rows[0]!.n).toBe(0);
    } finally {
      await pool?.end();
      await admin.query(`DROP DATABASE ${database}`);
      await admin.end();
    }
  });

  it('migration 10 keeps every row of a store made by migrations 1-9, and its keys then sort bytewise', async () => {
    const schema = await freshSchemaName();
    const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
    await client.connect();
    let pool: pg.Pool | undefined;
    try {
      await client.query(`CREATE SCHEMA ${schema}`);
      await client.query('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
      for (const m of PG_MIGRATIONS.filter((m) => m.version <= 9)) {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, 0)', [m.version, m.name]);
      }
      await client.query("INSERT INTO profiles VALUES ('i', 'p1', 1, 1), ('i', 'p2', 1, 1)");
      await client.query("INSERT INTO identities VALUES ('i', 'email', 'b@example.com', 'p1', 1), ('i', 'email', 'B@example.com', 'p2', 2), ('i', 'crmId', 'a-1', 'p1', 3)");
      pool = await openPostgres({ url: PG_URL, schema, maxConnections: 1 });
      expect((await pool.query<{ version: number }>('SELECT max(version) AS version FROM schema_migrations')).rows[0]!.version).toBe(10);
      const { rows } = await pool.query<{ value: string; customer_id: string }>("SELECT value, customer_id FROM identities WHERE instance_id = 'i' ORDER BY namespace, value");
      expect(rows).toEqual([
        { value: 'a-1', customer_id: 'p1' },
        { value: 'B@example.com', customer_id: 'p2' },
        { value: 'b@example.com', customer_id: 'p1' },
      ]);
      expect((await pool.query("SELECT customer_id FROM identities WHERE instance_id = 'i' AND namespace = 'email' AND value = 'B@example.com'")).rows).toEqual([{ customer_id: 'p2' }]);
    } finally {
      await pool?.end();
      await client.end();
      await dropSchema(schema);
    }
  });

  it('merge_profiles moves what the absorbed profiles held to their final survivors, and leaves the planner settings of the transaction as they were', async () => {
    const s = await freshSchema();
    cleanups.push(() => s.drop());
    const db = await s.pool.connect();
    try {
      // c absorbs b, then a absorbs c in the same call: b's rows end with a.
      for (const id of ['a', 'b', 'c']) await db.query("INSERT INTO profiles VALUES ('i', $1, 1, 1)", [id]);
      for (const id of ['a', 'b', 'c']) await db.query("INSERT INTO identities VALUES ('i', 'email', $1, $2, 1)", [`${id}@example.com`, id]);
      await db.query("INSERT INTO fragments (instance_id, dataset_id, record_key, customer_id, ts, received_at, hash, record) VALUES ('i', 'crm', 'b1', 'b', 1, 1, 'h', '{}')");
      await db.query("INSERT INTO activities (instance_id, activity_id, dataset_id, customer_id, ts, type, hash, received_at, record) VALUES ('i', 'e1', 'web', 'c', 1, 't', 'h', 1, '{}')");
      await db.query('BEGIN');
      await db.query('SET LOCAL enable_mergejoin = off');
      await db.query("SELECT merge_profiles(ARRAY['i', 'i'], ARRAY['m1', 'm2'], ARRAY['c', 'a'], ARRAY['b', 'c'], ARRAY['crm', 'crm'], ARRAY['k1', 'k2'], ARRAY[5, 6]::bigint[])");
      const settings = await db.query<{ hash: string; merge: string }>("SELECT current_setting('enable_hashjoin') AS hash, current_setting('enable_mergejoin') AS merge");
      expect(settings.rows[0]).toEqual({ hash: 'on', merge: 'off' });
      await db.query('COMMIT');
      const rowsOf = async (sql: string): Promise<unknown[]> => (await db.query(sql)).rows.map((r: Record<string, unknown>) => Object.values(r).join(' '));
      expect(await rowsOf("SELECT customer_id, updated_at FROM profiles WHERE instance_id = 'i' ORDER BY customer_id")).toEqual(['a 6']);
      expect(await rowsOf("SELECT value, customer_id FROM identities WHERE instance_id = 'i' ORDER BY value")).toEqual(['a@example.com a', 'b@example.com a', 'c@example.com a']);
      expect(await rowsOf("SELECT record_key, customer_id FROM fragments WHERE instance_id = 'i'")).toEqual(['b1 a']);
      expect(await rowsOf("SELECT activity_id, customer_id FROM activities WHERE instance_id = 'i'")).toEqual(['e1 a']);
      expect(await rowsOf("SELECT old_id, survivor_id FROM customer_aliases WHERE instance_id = 'i' ORDER BY old_id")).toEqual(['b a', 'c a']);
    } finally {
      db.release();
    }
  });

  it('array parameters come back as sent: texts joined by U+001E, or as arrays where a text holds it, a null or one empty text', async () => {
    const s = await freshSchema();
    cleanups.push(() => s.drop());
    const db = new PgClient(s.pool);
    const texts: Array<Array<string | null>> = [[], [''], ['a', '', 'b'], ['', ''], ['x\u001ey', 'z'], ['a', null], ['"q"', '\\', '{a,b}', 'NULL', ' sp ', 'é 😀']];
    for (const values of texts) {
      const a = textArray(values);
      expect((await db.get<{ v: Array<string | null> }>(`SELECT ${a.sql} AS v`, [a.param]))?.v).toEqual(values);
    }
    const numbers: Array<Array<number | null>> = [[], [0], [1_764_000_000_000, -5, null], [Number.MAX_SAFE_INTEGER]];
    for (const values of numbers) {
      const a = bigintArray(values);
      expect((await db.get<{ v: Array<string | null> }>(`SELECT ${a.sql} AS v`, [a.param]))?.v?.map((v) => (v === null ? null : Number(v)))).toEqual(values);
    }
    const both = arrayList(textArray(['k1', 'k2']), bigintArray([1, 2]));
    expect(await db.all(`SELECT * FROM unnest(${both.sql}) AS t(k, n) ORDER BY k`, both.params)).toEqual([{ k: 'k1', n: 1 }, { k: 'k2', n: 2 }]);
  });

  it('a writer that links an identity, adds an activity or a fragment another writer took meanwhile runs its transaction again and finds it', async () => {
    const s = await freshSchema();
    cleanups.push(() => s.drop());
    const a = new SqlProfileWriter(new PgClient(s.pool));
    const b = new SqlProfileWriter(new PgClient(await s.openAnother(2)));
    const email = { namespace: 'email', value: 'race@example.com', primary: true };
    const activity = (activityId: string, customerId: string): NewActivity => ({ activityId, datasetId: 'events', customerId, timestamp: 1, type: 'page', hash: 'h', receivedAt: 1, validUntil: null, json: '{}' });

    // The identity: free when A looks; B links it and commits before A writes.
    const owners: Array<string | undefined> = [];
    await a.transaction(async (tx) => {
      const owner = (await tx.identityOwners('acme', [email])).get('email:race@example.com');
      owners.push(owner);
      if (owners.length === 1) {
        await b.transaction(async (other) => {
          await other.createProfile('acme', 'B', 1);
          await other.linkIdentities('acme', 'B', [email], 1);
        });
      }
      if (owner === undefined) {
        await tx.createProfile('acme', 'A', 2);
        await tx.linkIdentities('acme', 'A', [email], 2);
      }
    });
    expect(owners).toEqual([undefined, 'B']);
    expect(a.retried).toBe(1);

    // The activity: the same race on its id.
    const stored: Array<string | undefined> = [];
    await a.transaction(async (tx) => {
      stored.push((await tx.existingActivity('acme', 'race-ev'))?.customerId);
      if (stored.length === 1) await b.transaction(async (other) => void (await other.insertActivity('acme', activity('race-ev', 'B'))));
      if (stored.at(-1) === undefined) await tx.insertActivity('acme', activity('race-ev', 'B'));
    });
    expect(stored).toEqual([undefined, 'B']);
    expect(a.retried).toBe(2);

    // A fragment: free when A looks, B writes it meanwhile; A runs again and updates it.
    const fragment = (json: string): NewFragment => ({ datasetId: 'crm', recordKey: 'email:race@example.com', customerId: 'B', timestamp: 1, receivedAt: 1, json, hash: json });
    let attempts = 0;
    await a.transaction(async (tx) => {
      if (++attempts === 1) {
        await tx.upsertFragment('acme', fragment('{"by":"A0"}'));
        await b.transaction(async (other) => void (await other.upsertFragment('acme', fragment('{"by":"B"}'))));
      } else {
        await tx.upsertFragment('acme', fragment('{"by":"A1"}'));
      }
      // Written mid-transaction (a read flushes what is pending), then written again: an update of the row just inserted.
      await tx.customerFragments('acme', 'B');
      await tx.upsertFragment('acme', fragment('{"by":"A2"}'));
    });
    expect(attempts).toBe(2);
    expect(a.retried).toBe(3);
    const rows = await s.pool.query('SELECT (SELECT array_agg(customer_id) FROM profiles) AS profiles, (SELECT array_agg(customer_id) FROM identities) AS identities, (SELECT array_agg(activity_id) FROM activities) AS activities, (SELECT array_agg(record) FROM fragments) AS fragments');
    expect(rows.rows[0]).toEqual({ profiles: ['B'], identities: ['B'], activities: ['race-ev'], fragments: ['{"by":"A2"}'] });
  });

  it("reads ahead the identities of only those profiles a record links an identity to or joins (an activity of a known person reads none)", async () => {
    const s = await freshSchema();
    cleanups.push(() => s.drop());
    // Which profiles' identities each statement of a transaction read, in order.
    const graphReads: string[][] = [];
    const recording = (inner: SqlClient): SqlClient => ({
      all: (sql, params) => {
        if (sql.includes('FROM identities WHERE instance_id = ? AND customer_id = k.customer_id')) {
          const ids = params![0]!;
          graphReads.push((Array.isArray(ids) ? (ids as string[]) : String(ids).split('\u001e')).sort());
        }
        return inner.all(sql, params);
      },
      get: (sql, params) => inner.get(sql, params),
      run: (sql, params) => inner.run(sql, params),
      transaction: (fn) => inner.transaction((tx) => fn(recording(tx))),
    });
    const writer = new SqlProfileWriter(recording(new PgClient(s.pool)));
    const id = (namespace: string, value: string) => ({ namespace, value, primary: false });
    const [annEmail, annCookie, bobEmail, bobCrm, eveEmail, newCookie] = [id('email', 'ann@example.com'), id('cookie', 'c-ann'), id('email', 'bob@example.com'), id('crmId', 'crm-bob'), id('email', 'eve@example.com'), id('cookie', 'c-new')];
    await writer.transaction(async (tx) => {
      for (const [p, ids] of [['ANN', [annEmail, annCookie]], ['BOB', [bobEmail]], ['EVE', [eveEmail]]] as const) {
        await tx.createProfile('acme', p, 1);
        await tx.linkIdentities('acme', p, ids, 1);
      }
    });
    graphReads.length = 0;
    const sizes: number[] = [];
    await writer.transaction(async (tx) => {
      // Ann's activity (her identities all hers), Bob's CRM id (a link), a record of Eve's email and a new cookie (a link), and one of Ann's cookie (hers already).
      const records = [[annEmail], [bobEmail, bobCrm], [eveEmail, newCookie], [annCookie]];
      await tx.readAhead!([{ instanceId: 'acme', records, fragments: [], activityIds: [] }]);
      expect(graphReads).toEqual([['BOB', 'EVE']]);
      await tx.linkIdentities('acme', 'BOB', [bobCrm], 2);
      sizes.push(await tx.graphSize('acme', 'BOB'));
    });
    expect(sizes).toEqual([2]);
    expect(graphReads).toEqual([['BOB', 'EVE']]);
    // A record that joins two profiles reads both.
    graphReads.length = 0;
    await writer.transaction(async (tx) => {
      const records = [[annEmail, bobEmail]];
      await tx.readAhead!([{ instanceId: 'acme', records, fragments: [], activityIds: [] }]);
    });
    expect(graphReads).toEqual([['ANN', 'BOB']]);
  });

  it('a transaction whose connection dies while it waits between statements fails store_unavailable, and the process goes on', async () => {
    const s = await freshSchema();
    cleanups.push(() => s.drop());
    const db = new PgClient(s.pool);
    const run = db.transaction(async (tx) => {
      const { pid } = (await tx.get<{ pid: number }>('SELECT pg_backend_pid() AS pid'))!;
      // Killed while the transaction waits on something else (the lake's sync, the transaction before it).
      await s.pool.query('SELECT pg_terminate_backend($1)', [pid]);
      await new Promise((r) => setTimeout(r, 200));
      await tx.get('SELECT 1 AS one');
    });
    await expect(run).rejects.toMatchObject({ code: 'store_unavailable' });
    expect(await db.get<{ one: number }>('SELECT 1 AS one')).toEqual({ one: 1 });
  });

  it('an advisory lock is held by one node at a time and let go when its node dies', async () => {
    const s = await freshSchema();
    cleanups.push(() => s.drop());
    // The other node has one connection, so that the session holding its locks is known.
    const other = await s.openAnother(1);
    const otherPid = (await other.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const a = new AdvisoryLock(s.pool);
    const b = new AdvisoryLock(other);
    const release = await a.tryAcquire('refresh:acme');
    expect(release).toBeDefined();
    expect(await b.tryAcquire('refresh:acme')).toBeUndefined();
    const otherLock = await b.tryAcquire('refresh:other');
    expect(otherLock).toBeDefined();
    await otherLock!();
    await release!();
    const again = await b.tryAcquire('refresh:acme');
    expect(again).toBeDefined();
    expect(await a.tryAcquire('refresh:acme')).toBeUndefined();
    // The node holding it dies: its connection goes, and the lock with it.
    await s.pool.query('SELECT pg_terminate_backend($1)', [otherPid]);
    let retaken: (() => Promise<void>) | undefined;
    for (let i = 0; i < 50 && !retaken; i++) {
      retaken = await a.tryAcquire('refresh:acme');
      if (!retaken) await new Promise((r) => setTimeout(r, 20));
    }
    expect(retaken).toBeDefined();
    await retaken!();
  });

  it('two nodes never run the same instance\'s refresh at once', async () => {
    const s = await freshSchema();
    cleanups.push(() => s.drop());
    const setup = new SqlControlStore(new PgClient(s.pool));
    await setup.createInstance({ id: 'acme', name: 'Acme', createdAt: 1, settings: SETTINGS });
    await setup.createSchema({ instanceId: 'acme', id: 's1', name: 'Person', class: 'profile', jsonSchema: { type: 'object' }, identities: [], fieldGroups: [], idField: '_id', timestampField: 'timestamp', version: 1, createdAt: 1 });
    await setup.createDataset({ instanceId: 'acme', id: 'd1', name: 'crm', schemaId: 's1', enabledForProfile: true, enabledForIdentity: true, precedence: 1, retentionDays: null, columnMapping: {}, createdAt: 1 });
    await setup.putUnificationConfig('acme', { mode: 'rules', datasets: [{ dataset: 'crm', dedupRules: [{ conditions: [{ field: 'email' }] }] }] }, 1);
    let running = 0;
    let most = 0;
    let finish: () => void = () => undefined;
    const node = async () => {
      const pool = await s.openAnother();
      const control = new SqlControlStore(new PgClient(pool));
      return new RefreshService({
        control,
        runs: new SqlRefreshRunStore(new PgClient(pool)),
        catalog: new Catalog(control),
        clock: new ManualClock(1_800_000_000_000),
        lock: new AdvisoryLock(pool),
        // The work itself is not what is tested here: it runs until the test lets it finish.
        runner: async () => {
          most = Math.max(most, ++running);
          await new Promise<void>((resolve) => (finish = resolve));
          running--;
          return { stages: [], counts: { records: 0, pairsCompared: 0, pairsMatched: 0, identityLinks: 0, clusters: 0, clustersCreated: 0, clustersMerged: 0, clustersSplit: 0, duplicatesSuppressed: 0, blocksSkipped: 0, enriched: 0 } };
        },
      });
    };
    const [one, two] = await Promise.all([node(), node()]);
    const results = await Promise.allSettled([one.trigger('acme', 'schedule'), two.trigger('acme', 'schedule')]);
    for (const r of results) if (r.status === 'rejected' && !(r.reason instanceof TesseraError)) throw r.reason;
    const started = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(started).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(refused[0]!.reason).toBeInstanceOf(TesseraError);
    expect((refused[0]!.reason as TesseraError).code).toBe('refresh_running');
    await new Promise((r) => setTimeout(r, 50));
    finish();
    await one.idle();
    await two.idle();
    expect(most).toBe(1);
    // Once it is over, the other node may run it.
    const next = await two.trigger('acme', 'manual');
    finish();
    expect((await next.done).status).toBe('success');
    const history = await new SqlRefreshRunStore(new PgClient(s.pool)).list('acme', 10, 0);
    expect(history.map((r) => r.status)).toEqual(['success', 'success']);
  });
});
