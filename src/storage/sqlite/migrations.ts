import type Database from 'better-sqlite3';

/**
 * Versioned schema migrations, applied in order on start. Never edit a released migration:
 * add a new one. Every table carries `instance_id` first in its key (the distribution key).
 */
export const MIGRATIONS: ReadonlyArray<{ version: number; name: string; sql: string }> = [
  {
    version: 1,
    name: 'control plane and profile state',
    sql: `
CREATE TABLE instances (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL, settings TEXT NOT NULL
);
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY, instance_id TEXT NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,
  primary_hash TEXT NOT NULL, secondary_hash TEXT, created_at INTEGER NOT NULL,
  rotated_at INTEGER, revoked_at INTEGER
);
CREATE UNIQUE INDEX api_keys_primary ON api_keys(primary_hash);
CREATE INDEX api_keys_secondary ON api_keys(secondary_hash) WHERE secondary_hash IS NOT NULL;
CREATE INDEX api_keys_instance ON api_keys(instance_id);
CREATE TABLE namespaces (
  instance_id TEXT NOT NULL, code TEXT NOT NULL, name TEXT NOT NULL, normalizer TEXT NOT NULL,
  priority INTEGER NOT NULL, is_unique INTEGER NOT NULL, builtin INTEGER NOT NULL, aliases TEXT NOT NULL,
  created_at INTEGER NOT NULL, PRIMARY KEY (instance_id, code)
);
CREATE TABLE schemas (
  instance_id TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, class TEXT NOT NULL,
  json_schema TEXT NOT NULL, identities TEXT NOT NULL, field_groups TEXT NOT NULL,
  id_field TEXT NOT NULL, timestamp_field TEXT NOT NULL, version INTEGER NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY (instance_id, id), UNIQUE (instance_id, name)
);
CREATE TABLE datasets (
  instance_id TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL, schema_id TEXT NOT NULL,
  enabled_profile INTEGER NOT NULL, enabled_identity INTEGER NOT NULL, precedence INTEGER NOT NULL,
  created_at INTEGER NOT NULL, PRIMARY KEY (instance_id, id), UNIQUE (instance_id, name)
);
CREATE TABLE profiles (
  instance_id TEXT NOT NULL, customer_id TEXT NOT NULL, created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL, PRIMARY KEY (instance_id, customer_id)
) WITHOUT ROWID;
CREATE TABLE customer_aliases (
  instance_id TEXT NOT NULL, old_id TEXT NOT NULL, survivor_id TEXT NOT NULL, merged_at INTEGER NOT NULL,
  PRIMARY KEY (instance_id, old_id)
) WITHOUT ROWID;
CREATE INDEX customer_aliases_survivor ON customer_aliases(instance_id, survivor_id);
CREATE TABLE identities (
  instance_id TEXT NOT NULL, namespace TEXT NOT NULL, value TEXT NOT NULL, customer_id TEXT NOT NULL,
  first_seen INTEGER NOT NULL, PRIMARY KEY (instance_id, namespace, value)
) WITHOUT ROWID;
CREATE INDEX identities_customer ON identities(instance_id, customer_id);
CREATE TABLE fragments (
  instance_id TEXT NOT NULL, dataset_id TEXT NOT NULL, record_key TEXT NOT NULL, customer_id TEXT NOT NULL,
  ts INTEGER NOT NULL, received_at INTEGER NOT NULL, hash TEXT NOT NULL, record TEXT NOT NULL,
  PRIMARY KEY (instance_id, dataset_id, record_key)
) WITHOUT ROWID;
CREATE INDEX fragments_customer ON fragments(instance_id, customer_id);
CREATE TABLE activities (
  instance_id TEXT NOT NULL, activity_id TEXT NOT NULL, dataset_id TEXT NOT NULL, customer_id TEXT NOT NULL,
  ts INTEGER NOT NULL, type TEXT, hash TEXT NOT NULL, received_at INTEGER NOT NULL, valid_until INTEGER,
  record TEXT NOT NULL, PRIMARY KEY (instance_id, activity_id)
);
CREATE INDEX activities_timeline ON activities(instance_id, customer_id, ts, activity_id);
CREATE TABLE merges (
  instance_id TEXT NOT NULL, id TEXT NOT NULL, survivor_id TEXT NOT NULL, absorbed_id TEXT NOT NULL,
  dataset_id TEXT, record_key TEXT, at INTEGER NOT NULL, PRIMARY KEY (instance_id, id)
);
CREATE INDEX merges_survivor ON merges(instance_id, survivor_id);
CREATE TABLE identity_warnings (
  instance_id TEXT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL, namespace TEXT NOT NULL,
  ident_values TEXT NOT NULL, customer_ids TEXT NOT NULL, dataset_id TEXT, record_key TEXT, at INTEGER NOT NULL,
  PRIMARY KEY (instance_id, id)
);
CREATE TABLE failed_records (
  instance_id TEXT NOT NULL, id TEXT NOT NULL, dataset_id TEXT NOT NULL, request_id TEXT NOT NULL,
  received_at INTEGER NOT NULL, record TEXT NOT NULL, errors TEXT NOT NULL, PRIMARY KEY (instance_id, id)
);
CREATE INDEX failed_records_dataset ON failed_records(instance_id, dataset_id, id);
CREATE TABLE lake_watermarks (segment TEXT PRIMARY KEY, applied_offset INTEGER NOT NULL);
`,
  },
  {
    version: 2,
    name: 'real-time overrides and expiring activities',
    sql: `
CREATE TABLE overrides (
  instance_id TEXT NOT NULL, customer_id TEXT NOT NULL, path TEXT NOT NULL, value TEXT NOT NULL,
  set_at INTEGER NOT NULL, valid_until INTEGER NOT NULL, caller TEXT, request_id TEXT NOT NULL,
  PRIMARY KEY (instance_id, customer_id, path)
) WITHOUT ROWID;
CREATE INDEX overrides_expiry ON overrides(valid_until);
CREATE INDEX activities_expiry ON activities(valid_until) WHERE valid_until IS NOT NULL;
`,
  },
  {
    version: 3,
    name: 'batch ingestion',
    sql: `
CREATE TABLE batches (
  instance_id TEXT NOT NULL, id TEXT NOT NULL, dataset_id TEXT NOT NULL, format TEXT NOT NULL,
  status TEXT NOT NULL, error_threshold REAL NOT NULL, options TEXT NOT NULL, files TEXT NOT NULL,
  rows_read INTEGER NOT NULL DEFAULT 0, rows_applied INTEGER NOT NULL DEFAULT 0, rows_failed INTEGER NOT NULL DEFAULT 0,
  message TEXT, created_at INTEGER NOT NULL, completed_at INTEGER, started_at INTEGER, finished_at INTEGER,
  PRIMARY KEY (instance_id, id)
);
CREATE INDEX batches_dataset ON batches(instance_id, dataset_id, created_at);
CREATE TABLE usage (
  instance_id TEXT NOT NULL, bucket_start INTEGER NOT NULL, operation TEXT NOT NULL, caller TEXT NOT NULL,
  status INTEGER NOT NULL, code TEXT NOT NULL, count INTEGER NOT NULL, records INTEGER NOT NULL,
  bytes_in INTEGER NOT NULL, bytes_out INTEGER NOT NULL, latency_ms_sum REAL NOT NULL, histogram TEXT NOT NULL,
  PRIMARY KEY (instance_id, bucket_start, operation, caller, status, code)
) WITHOUT ROWID;
CREATE TABLE write_keys (
  key_hash TEXT PRIMARY KEY, id TEXT NOT NULL, instance_id TEXT NOT NULL, name TEXT NOT NULL,
  profile_dataset_id TEXT NOT NULL, event_dataset_id TEXT NOT NULL, created_at INTEGER NOT NULL, revoked_at INTEGER
);
CREATE INDEX write_keys_instance ON write_keys(instance_id);
CREATE TABLE batch_errors (
  instance_id TEXT NOT NULL, batch_id TEXT NOT NULL, seq INTEGER NOT NULL, file TEXT NOT NULL, row INTEGER NOT NULL,
  field TEXT, value TEXT, message TEXT NOT NULL, PRIMARY KEY (instance_id, batch_id, seq)
) WITHOUT ROWID;
`,
  },
  {
    version: 4,
    name: 'lake retention per dataset',
    sql: 'ALTER TABLE datasets ADD COLUMN retention_days INTEGER;',
  },
  {
    version: 5,
    name: 'refresh: unification settings, runs, deduplication losers, enrichments',
    sql: `
CREATE TABLE unification_configs (instance_id TEXT PRIMARY KEY, config TEXT NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE refresh_runs (
  instance_id TEXT NOT NULL, id TEXT NOT NULL, status TEXT NOT NULL, trigger TEXT NOT NULL, started_at INTEGER NOT NULL,
  finished_at INTEGER, stages TEXT NOT NULL, counts TEXT NOT NULL, message TEXT, PRIMARY KEY (instance_id, id)
);
ALTER TABLE fragments ADD COLUMN dedup_loser INTEGER NOT NULL DEFAULT 0;
CREATE TABLE enrichments (
  instance_id TEXT NOT NULL, customer_id TEXT NOT NULL, attributes TEXT NOT NULL, run_id TEXT NOT NULL,
  PRIMARY KEY (instance_id, customer_id)
) WITHOUT ROWID;
`,
  },
  {
    version: 6,
    name: 'refresh: the trained model of probabilistic runs',
    sql: 'ALTER TABLE refresh_runs ADD COLUMN model TEXT;',
  },
  {
    version: 7,
    name: 'ingestion log: how far each consumer has applied (the scale-out mode; kept here so both stores answer alike)',
    sql: 'CREATE TABLE log_offsets (consumer TEXT PRIMARY KEY, seq INTEGER NOT NULL);',
  },
  {
    version: 8,
    name: 'instances: a catalog version, moved on by every catalog change (scale-out workers reload when a record was validated under a newer one)',
    sql: 'ALTER TABLE instances ADD COLUMN catalog_version INTEGER NOT NULL DEFAULT 0;',
  },
  {
    version: 9,
    name: 'datasets: a column mapping for batch imports',
    sql: 'ALTER TABLE datasets ADD COLUMN column_mapping TEXT;',
  },
  {
    version: 10,
    name: 'fragments: a rowid table with a unique index on their key, instead of a table keyed by it',
    // A fragment's key (its primary identity) is scattered: keyed by it, every new fragment went into
    // a random leaf of a B-tree that holds the records themselves, ~10 to a page, so each dirtied and
    // wrote a 4 KB page of records. Now the records are appended in rowid order and only the narrow
    // key index takes a scattered insert. Rows are copied one person after another.
    sql: `
CREATE TABLE fragments_by_rowid (
  instance_id TEXT NOT NULL, dataset_id TEXT NOT NULL, record_key TEXT NOT NULL, customer_id TEXT NOT NULL,
  ts INTEGER NOT NULL, received_at INTEGER NOT NULL, hash TEXT NOT NULL, record TEXT NOT NULL,
  dedup_loser INTEGER NOT NULL DEFAULT 0, UNIQUE (instance_id, dataset_id, record_key)
);
INSERT INTO fragments_by_rowid (instance_id, dataset_id, record_key, customer_id, ts, received_at, hash, record, dedup_loser)
  SELECT instance_id, dataset_id, record_key, customer_id, ts, received_at, hash, record, dedup_loser
  FROM fragments INDEXED BY fragments_customer ORDER BY instance_id, customer_id;
DROP TABLE fragments;
ALTER TABLE fragments_by_rowid RENAME TO fragments;
CREATE INDEX fragments_customer ON fragments(instance_id, customer_id);
`,
  },
  {
    version: 11,
    name: 'batches: the row of its files through which a batch is applied, moved in the transaction that applies the rows',
    sql: 'ALTER TABLE batches ADD COLUMN applied_through_row INTEGER NOT NULL DEFAULT 0;',
  },
];

/** Applies the migrations not yet applied (`migrations`: all of them, unless a test builds an older store). */
export function migrate(db: Database.Database, migrations: typeof MIGRATIONS = MIGRATIONS): void {
  db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  const applied = new Set(
    (db.prepare('SELECT version FROM schema_migrations').all() as Array<{ version: number }>).map((r) => r.version),
  );
  for (const m of migrations) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
    })();
  }
}
