import type Database from 'better-sqlite3';
import { valuesByNamespace } from '../../domain/identity/link-plan.js';
import { FRAGMENT_SCAN_COLUMNS } from '../sql/profile-rows.js';
import { identityKey, type Identity } from '../../domain/identity/extract.js';
import type { FailedRecord, FragmentScanRow, IdentityWarning, MergeRow, NewActivity, NewFragment, OverrideRow, ProfileTx, RefreshPublication } from '../../ports/profile-store.js';

type Stmt = Database.Statement;

/** The write side of profile state on SQLite: prepared once, used inside one transaction at a time. */
export class SqliteProfileTx implements ProfileTx {
  private readonly s: Record<string, Stmt>;
  private readonly bySize = new Map<number, Stmt>();

  constructor(private readonly db: Database.Database) {
    const p = (sql: string): Stmt => db.prepare(sql);
    this.s = {
      owner: p('SELECT customer_id FROM identities WHERE instance_id = ? AND namespace = ? AND value = ?').pluck(),
      valuesOf: p('SELECT namespace, value FROM identities INDEXED BY identities_customer WHERE instance_id = ? AND customer_id = ?'),
      createProfile: p('INSERT INTO profiles (instance_id, customer_id, created_at, updated_at) VALUES (?, ?, ?, ?)'),
      moveIdentities: p('UPDATE identities INDEXED BY identities_customer SET customer_id = ? WHERE instance_id = ? AND customer_id = ?'),
      moveFragments: p('UPDATE fragments INDEXED BY fragments_customer SET customer_id = ? WHERE instance_id = ? AND customer_id = ?'),
      moveActivities: p('UPDATE activities SET customer_id = ? WHERE instance_id = ? AND customer_id = ?'),
      moveAliases: p('UPDATE customer_aliases INDEXED BY customer_aliases_survivor SET survivor_id = ? WHERE instance_id = ? AND survivor_id = ?'),
      addAlias: p('INSERT OR REPLACE INTO customer_aliases (instance_id, old_id, survivor_id, merged_at) VALUES (?, ?, ?, ?)'),
      deleteProfile: p('DELETE FROM profiles WHERE instance_id = ? AND customer_id = ?'),
      addMerge: p('INSERT OR IGNORE INTO merges (instance_id, id, survivor_id, absorbed_id, dataset_id, record_key, at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      graph: p('SELECT namespace, value, first_seen AS firstSeen FROM identities INDEXED BY identities_customer WHERE instance_id = ? AND customer_id = ?'),
      graphSize: p('SELECT count(*) FROM identities INDEXED BY identities_customer WHERE instance_id = ? AND customer_id = ?').pluck(),
      dropIdentity: p('DELETE FROM identities WHERE instance_id = ? AND namespace = ? AND value = ?'),
      upsertFragment: p(
        `INSERT INTO fragments (instance_id, dataset_id, record_key, customer_id, ts, received_at, hash, record)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (instance_id, dataset_id, record_key) DO UPDATE SET customer_id = excluded.customer_id,
           ts = excluded.ts, received_at = excluded.received_at, hash = excluded.hash, record = excluded.record
         WHERE fragments.hash != excluded.hash OR fragments.customer_id != excluded.customer_id`,
      ),
      activity: p('SELECT hash, customer_id AS customerId FROM activities WHERE instance_id = ? AND activity_id = ?'),
      insertActivity: p(
        `INSERT OR IGNORE INTO activities (instance_id, activity_id, dataset_id, customer_id, ts, type, hash, received_at, valid_until, record)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      exists: p('SELECT 1 FROM profiles WHERE instance_id = ? AND customer_id = ?').pluck(),
      alias: p('SELECT survivor_id FROM customer_aliases WHERE instance_id = ? AND old_id = ?').pluck(),
      upsertOverride: p(
        `INSERT INTO overrides (instance_id, customer_id, path, value, set_at, valid_until, caller, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (instance_id, customer_id, path) DO UPDATE SET value = excluded.value, set_at = excluded.set_at,
           valid_until = excluded.valid_until, caller = excluded.caller, request_id = excluded.request_id
         WHERE excluded.set_at >= overrides.set_at`,
      ),
      overridesOf: p('SELECT path, value, set_at, valid_until, caller, request_id FROM overrides WHERE instance_id = ? AND customer_id = ?'),
      dropOverridesOf: p('DELETE FROM overrides WHERE instance_id = ? AND customer_id = ?'),
      sweepOverrides: p('DELETE FROM overrides WHERE valid_until <= ?'),
      sweepActivities: p('DELETE FROM activities WHERE valid_until IS NOT NULL AND valid_until <= ?'),
      touch: p('UPDATE profiles SET updated_at = MAX(updated_at, ?) WHERE instance_id = ? AND customer_id = ?'),
      warning: p(
        `INSERT OR IGNORE INTO identity_warnings (instance_id, id, kind, namespace, ident_values, customer_ids, dataset_id, record_key, at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      failed: p('INSERT OR IGNORE INTO failed_records (instance_id, id, dataset_id, request_id, received_at, record, errors) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      scanFirst: p(`SELECT ${FRAGMENT_SCAN_COLUMNS} FROM fragments WHERE instance_id = ? ORDER BY dataset_id, record_key LIMIT ?`),
      scanNext: p(`SELECT ${FRAGMENT_SCAN_COLUMNS} FROM fragments WHERE instance_id = ? AND (dataset_id, record_key) > (?, ?) ORDER BY dataset_id, record_key LIMIT ?`),
      deleteFragment: p('DELETE FROM fragments WHERE instance_id = ? AND dataset_id = ? AND record_key = ? RETURNING customer_id AS customerId, record AS recordJson'),
      customerFragments: p('SELECT dataset_id AS datasetId, record AS recordJson FROM fragments INDEXED BY fragments_customer WHERE instance_id = ? AND customer_id = ?'),
      hasFragment: p('SELECT 1 FROM fragments INDEXED BY fragments_customer WHERE instance_id = ? AND customer_id = ? LIMIT 1').pluck(),
      hasActivity: p('SELECT 1 FROM activities INDEXED BY activities_timeline WHERE instance_id = ? AND customer_id = ? LIMIT 1').pluck(),
      dropIdentitiesOf: p('DELETE FROM identities INDEXED BY identities_customer WHERE instance_id = ? AND customer_id = ?'),
      dropEnrichment: p('DELETE FROM enrichments WHERE instance_id = ? AND customer_id = ?'),
      setFragment: p('UPDATE fragments SET customer_id = ?, dedup_loser = ? WHERE instance_id = ? AND dataset_id = ? AND record_key = ?'),
      setIdentity: p('UPDATE identities SET customer_id = ? WHERE instance_id = ? AND namespace = ? AND value = ?'),
      dropEnrichments: p('DELETE FROM enrichments WHERE instance_id = ?'),
      addEnrichment: p('INSERT INTO enrichments (instance_id, customer_id, attributes, run_id) VALUES (?, ?, ?, ?)'),
      batchAppliedThrough: p('UPDATE batches SET applied_through_row = ? WHERE instance_id = ? AND id = ?'),
      logOffset: p('SELECT seq FROM log_offsets WHERE consumer = ?').pluck(),
      setLogOffset: p('INSERT INTO log_offsets (consumer, seq) VALUES (?, ?) ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq'),
      watermark: p(
        'INSERT INTO lake_watermarks (segment, applied_offset) VALUES (?, ?) ON CONFLICT (segment) DO UPDATE SET applied_offset = MAX(applied_offset, excluded.applied_offset)',
      ),
    };
  }

  async isolated<T>(fn: () => Promise<T>): Promise<T> {
    this.db.exec('SAVEPOINT record');
    try {
      const result = await fn();
      this.db.exec('RELEASE record');
      return result;
    } catch (err) {
      this.db.exec('ROLLBACK TO record');
      this.db.exec('RELEASE record');
      throw err;
    }
  }

  /** The multi-row identity insert, prepared once per count of identities. */
  private linkStatement(n: number): Stmt {
    let stmt = this.bySize.get(n);
    if (!stmt) {
      stmt = this.db.prepare(`INSERT OR IGNORE INTO identities (instance_id, namespace, value, customer_id, first_seen) VALUES ${Array(n).fill('(?, ?, ?, ?, ?)').join(', ')}`);
      this.bySize.set(n, stmt);
    }
    return stmt;
  }

  identityOwners(instanceId: string, identities: readonly Identity[]): Map<string, string> {
    const out = new Map<string, string>();
    if (identities.length === 0) return out;
    // One point lookup per identity (a row-value IN over a VALUES list costs a quarter more: it builds a table each time).
    const owner = this.s['owner']!;
    for (const id of identities) {
      const customerId = owner.get(instanceId, id.namespace, id.value) as string | undefined;
      if (customerId !== undefined) out.set(identityKey(id), customerId);
    }
    return out;
  }

  uniqueValues(instanceId: string, customerId: string, namespaces: readonly string[]): Map<string, Set<string>> {
    return valuesByNamespace(this.s['valuesOf']!.all(instanceId, customerId) as Array<{ namespace: string; value: string }>, namespaces);
  }

  createProfile(instanceId: string, customerId: string, at: number): void {
    this.s['createProfile']!.run(instanceId, customerId, at, at);
  }

  mergeProfiles(instanceId: string, m: MergeRow): void {
    const { survivorId: to, absorbedId: from } = m;
    this.s['moveIdentities']!.run(to, instanceId, from);
    this.s['moveFragments']!.run(to, instanceId, from);
    this.s['moveActivities']!.run(to, instanceId, from);
    // Overrides follow the person; where both had one for a field, the newer stays.
    const moved = this.s['overridesOf']!.all(instanceId, from) as Array<{ path: string; value: string; set_at: number; valid_until: number; caller: string | null; request_id: string }>;
    if (moved.length > 0) {
      for (const o of moved) this.s['upsertOverride']!.run(instanceId, to, o.path, o.value, o.set_at, o.valid_until, o.caller, o.request_id);
      this.s['dropOverridesOf']!.run(instanceId, from);
    }
    this.s['moveAliases']!.run(to, instanceId, from);
    this.s['addAlias']!.run(instanceId, from, to, m.at);
    this.s['deleteProfile']!.run(instanceId, from);
    this.s['addMerge']!.run(instanceId, m.id, to, from, m.datasetId, m.recordKey, m.at);
    this.s['touch']!.run(m.at, instanceId, to);
  }

  linkIdentities(instanceId: string, customerId: string, identities: readonly Identity[], at: number): void {
    if (identities.length === 0) return;
    const params: Array<string | number> = [];
    for (const id of identities) params.push(instanceId, id.namespace, id.value, customerId, at);
    this.linkStatement(identities.length).run(...params);
  }

  graphIdentities(instanceId: string, customerId: string): Array<{ namespace: string; value: string; firstSeen: number }> {
    return this.s['graph']!.all(instanceId, customerId) as Array<{ namespace: string; value: string; firstSeen: number }>;
  }

  graphSize(instanceId: string, customerId: string): number {
    return this.s['graphSize']!.get(instanceId, customerId) as number;
  }

  dropIdentities(instanceId: string, identities: ReadonlyArray<{ namespace: string; value: string }>): void {
    for (const id of identities) this.s['dropIdentity']!.run(instanceId, id.namespace, id.value);
  }

  upsertFragment(instanceId: string, f: NewFragment): boolean {
    return this.s['upsertFragment']!.run(instanceId, f.datasetId, f.recordKey, f.customerId, f.timestamp, f.receivedAt, f.hash, f.json).changes > 0;
  }

  existingActivity(instanceId: string, activityId: string): { hash: string; customerId: string } | undefined {
    return this.s['activity']!.get(instanceId, activityId) as { hash: string; customerId: string } | undefined;
  }

  insertActivity(instanceId: string, a: NewActivity): boolean {
    return this.s['insertActivity']!.run(instanceId, a.activityId, a.datasetId, a.customerId, a.timestamp, a.type, a.hash, a.receivedAt, a.validUntil, a.json).changes > 0;
  }


  resolveCustomer(instanceId: string, customerId: string): string | undefined {
    if (this.s['exists']!.get(instanceId, customerId) !== undefined) return customerId;
    return this.s['alias']!.get(instanceId, customerId) as string | undefined;
  }

  upsertOverrides(instanceId: string, customerId: string, overrides: readonly OverrideRow[]): void {
    for (const o of overrides) this.s['upsertOverride']!.run(instanceId, customerId, o.path, o.valueJson, o.setAt, o.validUntil, o.caller, o.requestId);
  }

  scanFragments(instanceId: string, after: { datasetId: string; recordKey: string } | null, limit: number): FragmentScanRow[] {
    const rows = (after ? this.s['scanNext']!.all(instanceId, after.datasetId, after.recordKey, limit) : this.s['scanFirst']!.all(instanceId, limit)) as Array<Omit<FragmentScanRow, 'dedupLoser'> & { dedupLoser: number }>;
    return rows.map((r) => ({ ...r, dedupLoser: r.dedupLoser === 1 }));
  }

  deleteFragment(instanceId: string, datasetId: string, recordKey: string): { customerId: string; recordJson: string } | undefined {
    return this.s['deleteFragment']!.get(instanceId, datasetId, recordKey) as { customerId: string; recordJson: string } | undefined;
  }

  customerFragments(instanceId: string, customerId: string): Array<{ datasetId: string; recordJson: string }> {
    return this.s['customerFragments']!.all(instanceId, customerId) as Array<{ datasetId: string; recordJson: string }>;
  }

  dropProfileIfEmpty(instanceId: string, customerId: string): boolean {
    if (this.s['hasFragment']!.get(instanceId, customerId) !== undefined || this.s['hasActivity']!.get(instanceId, customerId) !== undefined) return false;
    this.s['dropIdentitiesOf']!.run(instanceId, customerId);
    this.s['dropOverridesOf']!.run(instanceId, customerId);
    this.s['dropEnrichment']!.run(instanceId, customerId);
    return this.s['deleteProfile']!.run(instanceId, customerId).changes > 0;
  }

  publishRefresh(instanceId: string, p: RefreshPublication): void {
    for (const id of p.created) this.createProfile(instanceId, id, p.at);
    if (p.absorbed.length > 0) this.absorbAll(instanceId, p);
    // The records of a split go where the run put them (absorbed profiles moved whole above).
    for (const f of p.fragments) this.s['setFragment']!.run(f.customerId, f.dedupLoser ? 1 : 0, instanceId, f.datasetId, f.recordKey);
    for (const i of p.identities) this.s['setIdentity']!.run(i.customerId, instanceId, i.namespace, i.value);
    const touched = new Set(p.fragments.map((f) => f.customerId));
    for (const id of touched) this.s['touch']!.run(p.at, instanceId, id);
    this.s['dropEnrichments']!.run(instanceId);
    for (const e of p.enrichments) this.s['addEnrichment']!.run(instanceId, e.customerId, e.attributesJson, p.runId);
  }

  /**
   * Moves everything of the absorbed profiles to their survivors, set-based (a run can absorb
   * hundreds of thousands): identities, fragments, activities, overrides (the newer wins per
   * field), aliases; the absorbed ids keep resolving and each merge is recorded.
   */
  private absorbAll(instanceId: string, p: RefreshPublication): void {
    this.db.exec('CREATE TEMP TABLE IF NOT EXISTS refresh_absorbed (old_id TEXT PRIMARY KEY, new_id TEXT NOT NULL) WITHOUT ROWID; DELETE FROM refresh_absorbed;');
    const add = this.db.prepare('INSERT INTO refresh_absorbed (old_id, new_id) VALUES (?, ?)');
    for (const a of p.absorbed) add.run(a.absorbedId, a.survivorId);
    const moved = (table: string, index: string, column = 'customer_id'): void => {
      this.db
        .prepare(
          `UPDATE ${table} INDEXED BY ${index} SET ${column} = (SELECT new_id FROM refresh_absorbed WHERE old_id = ${table}.${column})
           WHERE instance_id = ? AND ${column} IN (SELECT old_id FROM refresh_absorbed)`,
        )
        .run(instanceId);
    };
    moved('identities', 'identities_customer');
    moved('fragments', 'fragments_customer');
    moved('activities', 'activities_timeline');
    moved('customer_aliases', 'customer_aliases_survivor', 'survivor_id');
    this.db
      .prepare(
        `INSERT INTO overrides (instance_id, customer_id, path, value, set_at, valid_until, caller, request_id)
         SELECT o.instance_id, a.new_id, o.path, o.value, o.set_at, o.valid_until, o.caller, o.request_id
         FROM refresh_absorbed a JOIN overrides o ON o.instance_id = ? AND o.customer_id = a.old_id WHERE true
         ON CONFLICT (instance_id, customer_id, path) DO UPDATE SET value = excluded.value, set_at = excluded.set_at,
           valid_until = excluded.valid_until, caller = excluded.caller, request_id = excluded.request_id
         WHERE excluded.set_at >= overrides.set_at`,
      )
      .run(instanceId);
    this.db.prepare('DELETE FROM overrides WHERE instance_id = ? AND customer_id IN (SELECT old_id FROM refresh_absorbed)').run(instanceId);
    this.db.prepare('INSERT OR REPLACE INTO customer_aliases (instance_id, old_id, survivor_id, merged_at) SELECT ?, old_id, new_id, ? FROM refresh_absorbed').run(instanceId, p.at);
    this.db.prepare('DELETE FROM profiles WHERE instance_id = ? AND customer_id IN (SELECT old_id FROM refresh_absorbed)').run(instanceId);
    this.db
      .prepare("INSERT OR IGNORE INTO merges (instance_id, id, survivor_id, absorbed_id, dataset_id, record_key, at) SELECT ?, ? || ':' || old_id, new_id, old_id, NULL, NULL, ? FROM refresh_absorbed")
      .run(instanceId, p.runId, p.at);
  }

  resetDerived(instanceId: string): void {
    // Everything derived from the lake; failed records stay (records that failed validation never
    // reached the lake, and the others are recreated under the same ids).
    for (const table of ['profiles', 'customer_aliases', 'identities', 'fragments', 'activities', 'merges', 'identity_warnings', 'overrides', 'enrichments']) {
      this.db.prepare(`DELETE FROM ${table} WHERE instance_id = ?`).run(instanceId);
    }
    this.db.prepare(`DELETE FROM lake_watermarks WHERE segment LIKE ? ESCAPE '\\'`).run(`${instanceId.replaceAll('_', '\\_').replaceAll('%', '\\%')}/%`);
  }

  sweepExpired(now: number): { overrides: number; activities: number } {
    return { overrides: this.s['sweepOverrides']!.run(now).changes, activities: this.s['sweepActivities']!.run(now).changes };
  }

  recordWarning(instanceId: string, w: IdentityWarning): void {
    this.s['warning']!.run(instanceId, w.id, w.kind, w.namespace, JSON.stringify(w.values), JSON.stringify(w.customerIds), w.datasetId, w.recordKey, w.at);
  }

  recordFailed(instanceId: string, f: FailedRecord): void {
    this.s['failed']!.run(instanceId, f.id, f.datasetId, f.requestId, f.receivedAt, JSON.stringify(f.record), JSON.stringify(f.errors));
  }

  setLakeWatermark(segment: string, offset: number): void {
    this.s['watermark']!.run(segment, offset);
  }

  setBatchAppliedThrough(instanceId: string, batchId: string, row: number): void {
    this.s['batchAppliedThrough']!.run(row, instanceId, batchId);
  }

  logOffsets(consumers: readonly string[]): Map<string, number> {
    const read = this.s['logOffset']!;
    return new Map(consumers.map((c) => [c, (read.get(c) as number | undefined) ?? 0]));
  }

  setLogOffsets(offsets: ReadonlyMap<string, number>): void {
    for (const [consumer, seq] of offsets) this.s['setLogOffset']!.run(consumer, seq);
  }

  holdOffWriters(): void {
    // One writer already: the writer thread.
  }
}
