import type pg from 'pg';

/**
 * Migration 8 runs the statements that lock, move and drop the absorbed profiles' rows with hash
 * and merge joins off: each then probes the tables' indexes once for each profile in the call.
 * With the planner's default costs, a call's few hundred profiles against a table of tens of
 * thousands of rows were planned as a hash join over a scan of the whole table (15–30 ms a
 * statement at 50,000 people, growing with the table until the plan flips). The walk that finds
 * each absorbed profile's final survivor joins only the call's arrays, and keeps its hash join.
 * The settings are the transaction's own for these statements and restored after them.
 */
const BY_INDEX_DECLARE = `
  hashjoin TEXT := current_setting('enable_hashjoin');
  mergejoin TEXT := current_setting('enable_mergejoin');`;
const BY_INDEX_ON = `  PERFORM set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true);
`;
const BY_INDEX_OFF = `
  PERFORM set_config('enable_hashjoin', hashjoin, true), set_config('enable_mergejoin', mergejoin, true);`;

/** merge_profiles, set-based (migration 7); `byIndex`: with the row statements planned as index probes (migration 8). */
const mergeProfilesFunction = (byIndex: boolean): string => `
CREATE OR REPLACE FUNCTION merge_profiles(p_instances TEXT[], p_ids TEXT[], p_survivors TEXT[], p_absorbed TEXT[], p_datasets TEXT[], p_keys TEXT[], p_ats BIGINT[])
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  finals TEXT[];
  wanted INT;
  locked INT;${byIndex ? BY_INDEX_DECLARE : ''}
BEGIN
  IF coalesce(array_length(p_ids, 1), 0) = 0 THEN
    RETURN;
  END IF;
  -- Where each absorbed profile's content ends: its survivor, or where that survivor was merged
  -- later in the same call (merges come in order; a profile is absorbed at most once).
  WITH RECURSIVE m AS (
    SELECT inst, s, a, ord FROM unnest(p_instances, p_survivors, p_absorbed) WITH ORDINALITY AS t(inst, s, a, ord)
  ), walk(ord, inst, cur, depth) AS (
    SELECT ord, inst, s, 0 FROM m
    UNION ALL
    SELECT w.ord, w.inst, m.s, w.depth + 1 FROM walk w JOIN m ON m.inst = w.inst AND m.a = w.cur
  )
  SELECT array_agg(cur ORDER BY ord) INTO finals FROM (SELECT DISTINCT ON (ord) ord, cur FROM walk ORDER BY ord, depth DESC) last;
${byIndex ? BY_INDEX_ON : ''}  -- Every profile named, locked in id order; one merged away by another writer meanwhile is a lost race (run again).
  WITH k AS (
    SELECT inst, id FROM unnest(p_instances, p_survivors) AS t(inst, id)
    UNION SELECT inst, id FROM unnest(p_instances, p_absorbed) AS t(inst, id)
  )
  SELECT count(*) INTO wanted FROM k;
  SELECT count(*) INTO locked FROM (
    SELECT 1 FROM profiles p
    WHERE (p.instance_id, p.customer_id) IN (SELECT inst, id FROM unnest(p_instances, p_survivors) AS t(inst, id) UNION SELECT inst, id FROM unnest(p_instances, p_absorbed) AS t(inst, id))
    ORDER BY p.instance_id, p.customer_id FOR UPDATE
  ) l;
  IF locked <> wanted THEN
    RAISE EXCEPTION 'a profile this merge names was merged away by another writer meanwhile' USING ERRCODE = '40001';
  END IF;
  UPDATE identities x SET customer_id = f.fin FROM unnest(p_instances, p_absorbed, finals) AS f(inst, a, fin) WHERE x.instance_id = f.inst AND x.customer_id = f.a;
  UPDATE fragments x SET customer_id = f.fin FROM unnest(p_instances, p_absorbed, finals) AS f(inst, a, fin) WHERE x.instance_id = f.inst AND x.customer_id = f.a;
  UPDATE activities x SET customer_id = f.fin FROM unnest(p_instances, p_absorbed, finals) AS f(inst, a, fin) WHERE x.instance_id = f.inst AND x.customer_id = f.a;
  -- Overrides follow the person; where several had one for a field, the newest stays.
  INSERT INTO overrides (instance_id, customer_id, path, value, set_at, valid_until, caller, request_id)
    SELECT DISTINCT ON (f.inst, f.fin, o.path) f.inst, f.fin, o.path, o.value, o.set_at, o.valid_until, o.caller, o.request_id
    FROM overrides o JOIN unnest(p_instances, p_absorbed, finals) AS f(inst, a, fin) ON o.instance_id = f.inst AND o.customer_id = f.a
    ORDER BY f.inst, f.fin, o.path, o.set_at DESC
    ON CONFLICT (instance_id, customer_id, path) DO UPDATE SET value = excluded.value, set_at = excluded.set_at,
      valid_until = excluded.valid_until, caller = excluded.caller, request_id = excluded.request_id
    WHERE excluded.set_at >= overrides.set_at;
  DELETE FROM overrides o USING unnest(p_instances, p_absorbed) AS f(inst, a) WHERE o.instance_id = f.inst AND o.customer_id = f.a;
  UPDATE customer_aliases x SET survivor_id = f.fin FROM unnest(p_instances, p_absorbed, finals) AS f(inst, a, fin) WHERE x.instance_id = f.inst AND x.survivor_id = f.a;
  INSERT INTO customer_aliases (instance_id, old_id, survivor_id, merged_at)
    SELECT inst, a, fin, at FROM unnest(p_instances, p_absorbed, finals, p_ats) AS f(inst, a, fin, at)
    ON CONFLICT (instance_id, old_id) DO UPDATE SET survivor_id = excluded.survivor_id, merged_at = excluded.merged_at;
  DELETE FROM profiles p USING unnest(p_instances, p_absorbed) AS f(inst, a) WHERE p.instance_id = f.inst AND p.customer_id = f.a;
  INSERT INTO merges (instance_id, id, survivor_id, absorbed_id, dataset_id, record_key, at)
    SELECT * FROM unnest(p_instances, p_ids, p_survivors, p_absorbed, p_datasets, p_keys, p_ats) ON CONFLICT DO NOTHING;
  -- As one merge after another would leave it: a survivor that was itself merged later is gone.
  UPDATE profiles p SET updated_at = g.at
    FROM (SELECT inst, s, max(at) AS at FROM unnest(p_instances, p_survivors, finals, p_ats) AS f(inst, s, fin, at) WHERE s = fin GROUP BY inst, s) g
    WHERE p.instance_id = g.inst AND p.customer_id = g.s AND p.updated_at < g.at;${byIndex ? BY_INDEX_OFF : ''}
END
$fn$;`;

/**
 * Migration 10: every text column of an index of Tessera's schema compares bytewise. With the
 * database's collation (often a language's, such as en_US.UTF-8) the order of keys differed from
 * SQLite's, where the embedded default pages and lists, and each comparison in an index was a
 * locale-aware one: inserts of 500,000 rows into a table shaped like identities took 30–40%
 * longer under ICU's English collation than under "C" (about 4% under C.UTF-8). Each table's indexes
 * are rebuilt once. A table added later declares its key columns `COLLATE "C"` itself.
 */
const BYTEWISE_KEYS = `
DO $$
DECLARE
  t RECORD;
BEGIN
  FOR t IN
    SELECT c.relname AS tbl, string_agg(format('ALTER COLUMN %I TYPE TEXT COLLATE "C"', a.attname), ', ' ORDER BY a.attnum) AS alters
    FROM pg_class c
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypid = 'text'::regtype
    WHERE c.relkind = 'r' AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
      AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND a.attnum = ANY (i.indkey))
    GROUP BY c.relname
  LOOP
    EXECUTE format('ALTER TABLE %I %s', t.tbl, t.alters);
  END LOOP;
END
$$;`;

/**
 * Versioned schema migrations for PostgreSQL, applied in order on start under an advisory lock
 * (several nodes may start at once). Never edit a released migration: add a new one.
 *
 * Every table's key starts with `instance_id`, then the profile key where there is one: the
 * distribution key for Citus is `instance_id` (co-locating an instance's tables), see
 * docs/ARCHITECTURE.md.
 */
export const PG_MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'initial schema (the embedded schema of SQLite migrations 1-6)',
    sql: `
CREATE TABLE instances (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at BIGINT NOT NULL, settings TEXT NOT NULL);
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY, instance_id TEXT NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,
  primary_hash TEXT NOT NULL, secondary_hash TEXT, created_at BIGINT NOT NULL, rotated_at BIGINT, revoked_at BIGINT
);
CREATE UNIQUE INDEX api_keys_primary ON api_keys(primary_hash);
CREATE INDEX api_keys_secondary ON api_keys(secondary_hash) WHERE secondary_hash IS NOT NULL;
CREATE INDEX api_keys_instance ON api_keys(instance_id);
CREATE TABLE namespaces (
  instance_id TEXT NOT NULL, code TEXT NOT NULL, name TEXT NOT NULL, normalizer TEXT NOT NULL, priority INTEGER NOT NULL,
  is_unique INTEGER NOT NULL, builtin INTEGER NOT NULL, aliases TEXT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (instance_id, code)
);
CREATE TABLE schemas (
  instance_id TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, class TEXT NOT NULL, json_schema TEXT NOT NULL,
  identities TEXT NOT NULL, field_groups TEXT NOT NULL, id_field TEXT NOT NULL, timestamp_field TEXT NOT NULL,
  version INTEGER NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (instance_id, id), UNIQUE (instance_id, name)
);
CREATE TABLE datasets (
  instance_id TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, schema_id TEXT NOT NULL, enabled_profile INTEGER NOT NULL,
  enabled_identity INTEGER NOT NULL, precedence INTEGER NOT NULL, created_at BIGINT NOT NULL, retention_days INTEGER,
  PRIMARY KEY (instance_id, id), UNIQUE (instance_id, name)
);
CREATE TABLE profiles (
  instance_id TEXT NOT NULL, customer_id TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, PRIMARY KEY (instance_id, customer_id)
);
CREATE TABLE customer_aliases (
  instance_id TEXT NOT NULL, old_id TEXT NOT NULL, survivor_id TEXT NOT NULL, merged_at BIGINT NOT NULL, PRIMARY KEY (instance_id, old_id)
);
CREATE INDEX customer_aliases_survivor ON customer_aliases(instance_id, survivor_id);
CREATE TABLE identities (
  instance_id TEXT NOT NULL, namespace TEXT NOT NULL, value TEXT NOT NULL, customer_id TEXT NOT NULL, first_seen BIGINT NOT NULL,
  PRIMARY KEY (instance_id, namespace, value)
);
CREATE INDEX identities_customer ON identities(instance_id, customer_id);
CREATE TABLE fragments (
  instance_id TEXT NOT NULL, dataset_id TEXT NOT NULL, record_key TEXT NOT NULL, customer_id TEXT NOT NULL, ts BIGINT NOT NULL,
  received_at BIGINT NOT NULL, hash TEXT NOT NULL, record TEXT NOT NULL, dedup_loser INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (instance_id, dataset_id, record_key)
);
CREATE INDEX fragments_customer ON fragments(instance_id, customer_id);
CREATE TABLE activities (
  instance_id TEXT NOT NULL, activity_id TEXT NOT NULL, dataset_id TEXT NOT NULL, customer_id TEXT NOT NULL, ts BIGINT NOT NULL,
  type TEXT, hash TEXT NOT NULL, received_at BIGINT NOT NULL, valid_until BIGINT, record TEXT NOT NULL, PRIMARY KEY (instance_id, activity_id)
);
CREATE INDEX activities_timeline ON activities(instance_id, customer_id, ts, activity_id);
CREATE INDEX activities_expiry ON activities(valid_until) WHERE valid_until IS NOT NULL;
CREATE TABLE merges (
  instance_id TEXT NOT NULL, id TEXT NOT NULL, survivor_id TEXT NOT NULL, absorbed_id TEXT NOT NULL, dataset_id TEXT, record_key TEXT,
  at BIGINT NOT NULL, PRIMARY KEY (instance_id, id)
);
CREATE INDEX merges_survivor ON merges(instance_id, survivor_id);
CREATE TABLE identity_warnings (
  instance_id TEXT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL, namespace TEXT NOT NULL, ident_values TEXT NOT NULL,
  customer_ids TEXT NOT NULL, dataset_id TEXT, record_key TEXT, at BIGINT NOT NULL, PRIMARY KEY (instance_id, id)
);
CREATE TABLE failed_records (
  instance_id TEXT NOT NULL, id TEXT NOT NULL, dataset_id TEXT NOT NULL, request_id TEXT NOT NULL, received_at BIGINT NOT NULL,
  record TEXT NOT NULL, errors TEXT NOT NULL, PRIMARY KEY (instance_id, id)
);
CREATE INDEX failed_records_dataset ON failed_records(instance_id, dataset_id, id);
CREATE TABLE lake_watermarks (segment TEXT PRIMARY KEY, applied_offset BIGINT NOT NULL);
CREATE TABLE overrides (
  instance_id TEXT NOT NULL, customer_id TEXT NOT NULL, path TEXT NOT NULL, value TEXT NOT NULL, set_at BIGINT NOT NULL,
  valid_until BIGINT NOT NULL, caller TEXT, request_id TEXT NOT NULL, PRIMARY KEY (instance_id, customer_id, path)
);
CREATE INDEX overrides_expiry ON overrides(valid_until);
CREATE TABLE batches (
  instance_id TEXT NOT NULL, id TEXT NOT NULL, dataset_id TEXT NOT NULL, format TEXT NOT NULL, status TEXT NOT NULL,
  error_threshold DOUBLE PRECISION NOT NULL, options TEXT NOT NULL, files TEXT NOT NULL, rows_read BIGINT NOT NULL DEFAULT 0,
  rows_applied BIGINT NOT NULL DEFAULT 0, rows_failed BIGINT NOT NULL DEFAULT 0, message TEXT, created_at BIGINT NOT NULL,
  completed_at BIGINT, started_at BIGINT, finished_at BIGINT, PRIMARY KEY (instance_id, id)
);
CREATE INDEX batches_dataset ON batches(instance_id, dataset_id, created_at);
CREATE TABLE usage (
  instance_id TEXT NOT NULL, bucket_start BIGINT NOT NULL, operation TEXT NOT NULL, caller TEXT NOT NULL, status INTEGER NOT NULL,
  code TEXT NOT NULL, count BIGINT NOT NULL, records BIGINT NOT NULL, bytes_in BIGINT NOT NULL, bytes_out BIGINT NOT NULL,
  latency_ms_sum DOUBLE PRECISION NOT NULL, histogram TEXT NOT NULL, PRIMARY KEY (instance_id, bucket_start, operation, caller, status, code)
);
CREATE TABLE write_keys (
  key_hash TEXT PRIMARY KEY, id TEXT NOT NULL, instance_id TEXT NOT NULL, name TEXT NOT NULL, profile_dataset_id TEXT NOT NULL,
  event_dataset_id TEXT NOT NULL, created_at BIGINT NOT NULL, revoked_at BIGINT
);
CREATE INDEX write_keys_instance ON write_keys(instance_id);
CREATE TABLE batch_errors (
  instance_id TEXT NOT NULL, batch_id TEXT NOT NULL, seq INTEGER NOT NULL, file TEXT NOT NULL, row BIGINT NOT NULL, field TEXT,
  value TEXT, message TEXT NOT NULL, PRIMARY KEY (instance_id, batch_id, seq)
);
CREATE TABLE unification_configs (instance_id TEXT PRIMARY KEY, config TEXT NOT NULL, updated_at BIGINT NOT NULL);
CREATE TABLE refresh_runs (
  instance_id TEXT NOT NULL, id TEXT NOT NULL, status TEXT NOT NULL, trigger TEXT NOT NULL, started_at BIGINT NOT NULL,
  finished_at BIGINT, stages TEXT NOT NULL, counts TEXT NOT NULL, message TEXT, model TEXT, PRIMARY KEY (instance_id, id)
);
CREATE TABLE enrichments (
  instance_id TEXT NOT NULL, customer_id TEXT NOT NULL, attributes TEXT NOT NULL, run_id TEXT NOT NULL, PRIMARY KEY (instance_id, customer_id)
);
`,
  },
  {
    version: 2,
    name: 'rate limit buckets shared by the API nodes',
    sql: 'CREATE TABLE rate_buckets (instance_id TEXT PRIMARY KEY, state TEXT NOT NULL);',
  },
  {
    version: 3,
    name: 'ingestion log: consumer offsets (moved in the apply transaction) and live workers',
    sql: `
CREATE TABLE log_offsets (consumer TEXT PRIMARY KEY, seq BIGINT NOT NULL);
CREATE TABLE log_workers (id TEXT PRIMARY KEY, seen_at BIGINT NOT NULL, partitions TEXT NOT NULL);`,
  },
  {
    version: 4,
    name: 'merges of a group of records in one call (each one a round trip of a dozen statements before)',
    sql: `
CREATE FUNCTION merge_profiles(p_instances TEXT[], p_ids TEXT[], p_survivors TEXT[], p_absorbed TEXT[], p_datasets TEXT[], p_keys TEXT[], p_ats BIGINT[])
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  i INT;
  inst TEXT;
  s TEXT;
  a TEXT;
  n INT;
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_ids, 1), 0) LOOP
    inst := p_instances[i];
    s := p_survivors[i];
    a := p_absorbed[i];
    -- Both locked in id order; one merged away by another writer meanwhile is a lost race (run again).
    SELECT count(*) INTO n FROM (SELECT 1 FROM profiles WHERE instance_id = inst AND customer_id IN (s, a) ORDER BY customer_id FOR UPDATE) locked;
    IF n <> 2 THEN
      RAISE EXCEPTION 'a profile this merge names was merged away by another writer meanwhile' USING ERRCODE = '40001';
    END IF;
    UPDATE identities SET customer_id = s WHERE instance_id = inst AND customer_id = a;
    UPDATE fragments SET customer_id = s WHERE instance_id = inst AND customer_id = a;
    UPDATE activities SET customer_id = s WHERE instance_id = inst AND customer_id = a;
    -- Overrides follow the person; where both had one for a field, the newer stays.
    INSERT INTO overrides (instance_id, customer_id, path, value, set_at, valid_until, caller, request_id)
      SELECT instance_id, s, path, value, set_at, valid_until, caller, request_id FROM overrides WHERE instance_id = inst AND customer_id = a
      ON CONFLICT (instance_id, customer_id, path) DO UPDATE SET value = excluded.value, set_at = excluded.set_at,
        valid_until = excluded.valid_until, caller = excluded.caller, request_id = excluded.request_id
      WHERE excluded.set_at >= overrides.set_at;
    DELETE FROM overrides WHERE instance_id = inst AND customer_id = a;
    UPDATE customer_aliases SET survivor_id = s WHERE instance_id = inst AND survivor_id = a;
    INSERT INTO customer_aliases (instance_id, old_id, survivor_id, merged_at) VALUES (inst, a, s, p_ats[i])
      ON CONFLICT (instance_id, old_id) DO UPDATE SET survivor_id = excluded.survivor_id, merged_at = excluded.merged_at;
    DELETE FROM profiles WHERE instance_id = inst AND customer_id = a;
    INSERT INTO merges (instance_id, id, survivor_id, absorbed_id, dataset_id, record_key, at) VALUES (inst, p_ids[i], s, a, p_datasets[i], p_keys[i], p_ats[i])
      ON CONFLICT DO NOTHING;
    UPDATE profiles SET updated_at = p_ats[i] WHERE instance_id = inst AND customer_id = s AND updated_at < p_ats[i];
  END LOOP;
END
$fn$;`,
  },
  {
    version: 5,
    name: 'instances: a catalog version, moved on by every catalog change (workers reload when a record was validated under a newer one)',
    sql: 'ALTER TABLE instances ADD COLUMN catalog_version BIGINT NOT NULL DEFAULT 0;',
  },
  {
    version: 6,
    name: 'datasets: a column mapping for batch imports',
    sql: 'ALTER TABLE datasets ADD COLUMN column_mapping TEXT;',
  },
  {
    version: 7,
    name: 'merge_profiles set-based: a dozen statements a call instead of a dozen a merge (it was the largest cost of streaming ingestion on PostgreSQL)',
    sql: mergeProfilesFunction(false),
  },
  {
    version: 8,
    name: 'merge_profiles: its row statements probe the indexes for the profiles of the call (they were planned as hash joins over whole tables)',
    sql: mergeProfilesFunction(true),
  },
  {
    version: 9,
    name: 'batches: the row of its files through which a batch is applied, moved in the transaction that applies the rows',
    sql: 'ALTER TABLE batches ADD COLUMN applied_through_row BIGINT NOT NULL DEFAULT 0;',
  },
  {
    version: 10,
    name: 'text keys compare bytewise (COLLATE "C"), as SQLite compares them, whatever the collation of the database',
    sql: BYTEWISE_KEYS,
  },
];

/** Any fixed number: the advisory lock that serialises migrations across nodes. */
const MIGRATION_LOCK = 7_406_153;

export async function migratePostgres(client: pg.PoolClient): Promise<void> {
  await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
  try {
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
    const applied = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    for (const m of PG_MIGRATIONS) {
      if (applied.has(m.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(m.sql);
        await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, Date.now()]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
  }
}
