import type { Identity } from '../../domain/identity/extract.js';
import { TransactionConflict, type FailedRecord, type FragmentScanRow, type IdentityWarning, type MergeRow, type NewActivity, type NewFragment, type OverrideRow, type ProfileTx, type RefreshPublication } from '../../ports/profile-store.js';
import { FRAGMENT_SCAN_COLUMNS } from './profile-rows.js';
import type { SqlClient } from './sql-client.js';

/**
 * The write side of profile state in portable SQL, on one transaction's client (the PostgreSQL
 * backend; the embedded one keeps synchronous statements on its writer thread).
 */
export class SqlProfileTx implements ProfileTx {
  private savepoints = 0;

  constructor(private readonly db: SqlClient) {}

  async isolated<T>(fn: () => Promise<T>): Promise<T> {
    const name = `record_${++this.savepoints}`;
    await this.db.run(`SAVEPOINT ${name}`);
    try {
      const result = await fn();
      await this.db.run(`RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (err) {
      await this.db.run(`ROLLBACK TO SAVEPOINT ${name}`);
      await this.db.run(`RELEASE SAVEPOINT ${name}`);
      throw err;
    }
  }

  async identityOwners(instanceId: string, identities: readonly Identity[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (identities.length === 0) return out;
    const params: string[] = [instanceId];
    for (const id of identities) params.push(id.namespace, id.value);
    const rows = await this.db.all<{ namespace: string; value: string; customer_id: string }>(
      `SELECT namespace, value, customer_id FROM identities WHERE instance_id = ? AND (namespace, value) IN (VALUES ${identities.map(() => '(?, ?)').join(', ')})`,
      params,
    );
    for (const row of rows) out.set(`${row.namespace}:${row.value}`, row.customer_id);
    await this.lockProfiles(instanceId, [...new Set(out.values())], 'SHARE');
    return out;
  }

  /**
   * Locks profiles in a fixed order (by id) until the transaction ends: shared to write to one,
   * exclusive to merge. A merge in another transaction then waits for this one (and sees all of
   * it), or this one waits for the merge and finds the profile gone: a conflict, run again.
   */
  private async lockProfiles(instanceId: string, customerIds: readonly string[], mode: 'SHARE' | 'UPDATE'): Promise<void> {
    if (customerIds.length === 0) return;
    const sorted = [...customerIds].sort();
    const rows = await this.db.all<{ customer_id: string }>(
      `SELECT customer_id FROM profiles WHERE instance_id = ? AND customer_id IN (${sorted.map(() => '?').join(', ')}) ORDER BY customer_id FOR ${mode}`,
      [instanceId, ...sorted],
    );
    if (rows.length !== sorted.length) throw new TransactionConflict('a profile this record names was merged away by another writer meanwhile');
  }

  async holdOffWriters(): Promise<void> {
    // Conflicts with the row locks and writes of every other writer: they wait until this one ends.
    await this.db.run('LOCK TABLE profiles IN SHARE ROW EXCLUSIVE MODE');
  }

  async uniqueValues(instanceId: string, customerId: string, namespaces: readonly string[]): Promise<Map<string, Set<string>>> {
    const out = new Map<string, Set<string>>();
    const wanted = new Set(namespaces);
    for (const row of await this.db.all<{ namespace: string; value: string }>('SELECT namespace, value FROM identities WHERE instance_id = ? AND customer_id = ?', [instanceId, customerId])) {
      if (!wanted.has(row.namespace)) continue;
      const set = out.get(row.namespace) ?? new Set<string>();
      set.add(row.value);
      out.set(row.namespace, set);
    }
    return out;
  }

  async createProfile(instanceId: string, customerId: string, at: number): Promise<void> {
    await this.db.run('INSERT INTO profiles (instance_id, customer_id, created_at, updated_at) VALUES (?, ?, ?, ?)', [instanceId, customerId, at, at]);
  }

  async mergeProfiles(instanceId: string, m: MergeRow): Promise<void> {
    const { survivorId: to, absorbedId: from } = m;
    await this.lockProfiles(instanceId, [to, from], 'UPDATE');
    for (const table of ['identities', 'fragments', 'activities']) await this.db.run(`UPDATE ${table} SET customer_id = ? WHERE instance_id = ? AND customer_id = ?`, [to, instanceId, from]);
    // Overrides follow the person; where both had one for a field, the newer stays.
    await this.db.run(
      `INSERT INTO overrides (instance_id, customer_id, path, value, set_at, valid_until, caller, request_id)
       SELECT instance_id, ?, path, value, set_at, valid_until, caller, request_id FROM overrides WHERE instance_id = ? AND customer_id = ?
       ON CONFLICT (instance_id, customer_id, path) DO UPDATE SET value = excluded.value, set_at = excluded.set_at,
         valid_until = excluded.valid_until, caller = excluded.caller, request_id = excluded.request_id
       WHERE excluded.set_at >= overrides.set_at`,
      [to, instanceId, from],
    );
    await this.db.run('DELETE FROM overrides WHERE instance_id = ? AND customer_id = ?', [instanceId, from]);
    await this.db.run('UPDATE customer_aliases SET survivor_id = ? WHERE instance_id = ? AND survivor_id = ?', [to, instanceId, from]);
    await this.addAlias(instanceId, from, to, m.at);
    await this.db.run('DELETE FROM profiles WHERE instance_id = ? AND customer_id = ?', [instanceId, from]);
    await this.db.run(
      'INSERT INTO merges (instance_id, id, survivor_id, absorbed_id, dataset_id, record_key, at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      [instanceId, m.id, to, from, m.datasetId, m.recordKey, m.at],
    );
    await this.touch(instanceId, to, m.at);
  }

  private async addAlias(instanceId: string, oldId: string, survivorId: string, at: number): Promise<void> {
    await this.db.run(
      'INSERT INTO customer_aliases (instance_id, old_id, survivor_id, merged_at) VALUES (?, ?, ?, ?) ON CONFLICT (instance_id, old_id) DO UPDATE SET survivor_id = excluded.survivor_id, merged_at = excluded.merged_at',
      [instanceId, oldId, survivorId, at],
    );
  }

  private async touch(instanceId: string, customerId: string, at: number): Promise<void> {
    await this.db.run('UPDATE profiles SET updated_at = ? WHERE instance_id = ? AND customer_id = ? AND updated_at < ?', [at, instanceId, customerId, at]);
  }

  async linkIdentities(instanceId: string, customerId: string, identities: readonly Identity[], at: number): Promise<void> {
    if (identities.length === 0) return;
    const params: Array<string | number> = [];
    for (const id of identities) params.push(instanceId, id.namespace, id.value, customerId, at);
    const added = await this.db.all<{ customer_id: string }>(
      `INSERT INTO identities (instance_id, namespace, value, customer_id, first_seen) VALUES ${identities.map(() => '(?, ?, ?, ?, ?)').join(', ')} ON CONFLICT DO NOTHING RETURNING customer_id`,
      params,
    );
    // An identity that was free when this transaction looked is taken: another writer linked it first.
    if (added.length < new Set(identities.map((i) => `${i.namespace}:${i.value}`)).size) throw new TransactionConflict('an identity this record links was linked by another writer meanwhile');
  }

  async graphIdentities(instanceId: string, customerId: string): Promise<Array<{ namespace: string; value: string; firstSeen: number }>> {
    return this.db.all('SELECT namespace, value, first_seen AS "firstSeen" FROM identities WHERE instance_id = ? AND customer_id = ?', [instanceId, customerId]);
  }

  async dropIdentities(instanceId: string, identities: ReadonlyArray<{ namespace: string; value: string }>): Promise<void> {
    for (const id of identities) await this.db.run('DELETE FROM identities WHERE instance_id = ? AND namespace = ? AND value = ?', [instanceId, id.namespace, id.value]);
  }

  async upsertFragment(instanceId: string, f: NewFragment): Promise<boolean> {
    const { changes } = await this.db.run(
      `INSERT INTO fragments (instance_id, dataset_id, record_key, customer_id, ts, received_at, hash, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (instance_id, dataset_id, record_key) DO UPDATE SET customer_id = excluded.customer_id,
         ts = excluded.ts, received_at = excluded.received_at, hash = excluded.hash, record = excluded.record
       WHERE fragments.hash <> excluded.hash OR fragments.customer_id <> excluded.customer_id`,
      [instanceId, f.datasetId, f.recordKey, f.customerId, f.timestamp, f.receivedAt, f.hash, f.json],
    );
    return changes > 0;
  }

  async existingActivity(instanceId: string, activityId: string): Promise<{ hash: string; customerId: string } | undefined> {
    return this.db.get('SELECT hash, customer_id AS "customerId" FROM activities WHERE instance_id = ? AND activity_id = ?', [instanceId, activityId]);
  }

  async insertActivity(instanceId: string, a: NewActivity): Promise<boolean> {
    const { changes } = await this.db.run(
      `INSERT INTO activities (instance_id, activity_id, dataset_id, customer_id, ts, type, hash, received_at, valid_until, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT DO NOTHING`,
      [instanceId, a.activityId, a.datasetId, a.customerId, a.timestamp, a.type, a.hash, a.receivedAt, a.validUntil, a.json],
    );
    return changes > 0;
  }

  async resolveCustomer(instanceId: string, customerId: string): Promise<string | undefined> {
    // Locked (shared) so that a merge cannot take the profile away before this transaction ends.
    if (await this.db.get('SELECT 1 AS one FROM profiles WHERE instance_id = ? AND customer_id = ? FOR SHARE', [instanceId, customerId])) return customerId;
    const survivor = (await this.db.get<{ survivor_id: string }>('SELECT survivor_id FROM customer_aliases WHERE instance_id = ? AND old_id = ?', [instanceId, customerId]))?.survivor_id;
    if (survivor !== undefined) await this.lockProfiles(instanceId, [survivor], 'SHARE');
    return survivor;
  }

  async upsertOverrides(instanceId: string, customerId: string, overrides: readonly OverrideRow[]): Promise<void> {
    for (const o of overrides) {
      await this.db.run(
        `INSERT INTO overrides (instance_id, customer_id, path, value, set_at, valid_until, caller, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (instance_id, customer_id, path) DO UPDATE SET value = excluded.value, set_at = excluded.set_at,
           valid_until = excluded.valid_until, caller = excluded.caller, request_id = excluded.request_id
         WHERE excluded.set_at >= overrides.set_at`,
        [instanceId, customerId, o.path, o.valueJson, o.setAt, o.validUntil, o.caller, o.requestId],
      );
    }
  }

  async resetDerived(instanceId: string): Promise<void> {
    for (const table of ['profiles', 'customer_aliases', 'identities', 'fragments', 'activities', 'merges', 'identity_warnings', 'overrides', 'enrichments']) {
      await this.db.run(`DELETE FROM ${table} WHERE instance_id = ?`, [instanceId]);
    }
    await this.db.run(`DELETE FROM lake_watermarks WHERE segment LIKE ? ESCAPE '\\'`, [`${instanceId.replaceAll('_', '\\_').replaceAll('%', '\\%')}/%`]);
  }

  async sweepExpired(now: number): Promise<{ overrides: number; activities: number }> {
    const overrides = (await this.db.run('DELETE FROM overrides WHERE valid_until <= ?', [now])).changes;
    const activities = (await this.db.run('DELETE FROM activities WHERE valid_until IS NOT NULL AND valid_until <= ?', [now])).changes;
    return { overrides, activities };
  }

  async recordWarning(instanceId: string, w: IdentityWarning): Promise<void> {
    await this.db.run(
      `INSERT INTO identity_warnings (instance_id, id, kind, namespace, ident_values, customer_ids, dataset_id, record_key, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT DO NOTHING`,
      [instanceId, w.id, w.kind, w.namespace, JSON.stringify(w.values), JSON.stringify(w.customerIds), w.datasetId, w.recordKey, w.at],
    );
  }

  async recordFailed(instanceId: string, f: FailedRecord): Promise<void> {
    await this.db.run('INSERT INTO failed_records (instance_id, id, dataset_id, request_id, received_at, record, errors) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING', [
      instanceId,
      f.id,
      f.datasetId,
      f.requestId,
      f.receivedAt,
      JSON.stringify(f.record),
      JSON.stringify(f.errors),
    ]);
  }

  async setLakeWatermark(segment: string, offset: number): Promise<void> {
    await this.db.run(
      'INSERT INTO lake_watermarks (segment, applied_offset) VALUES (?, ?) ON CONFLICT (segment) DO UPDATE SET applied_offset = excluded.applied_offset WHERE lake_watermarks.applied_offset < excluded.applied_offset',
      [segment, offset],
    );
  }

  async scanFragments(instanceId: string, after: { datasetId: string; recordKey: string } | null, limit: number): Promise<FragmentScanRow[]> {
    const rows = after
      ? await this.db.all<Omit<FragmentScanRow, 'dedupLoser'> & { dedupLoser: number }>(
          `SELECT ${FRAGMENT_SCAN_COLUMNS} FROM fragments WHERE instance_id = ? AND (dataset_id, record_key) > (?, ?) ORDER BY dataset_id, record_key LIMIT ?`,
          [instanceId, after.datasetId, after.recordKey, limit],
        )
      : await this.db.all<Omit<FragmentScanRow, 'dedupLoser'> & { dedupLoser: number }>(`SELECT ${FRAGMENT_SCAN_COLUMNS} FROM fragments WHERE instance_id = ? ORDER BY dataset_id, record_key LIMIT ?`, [instanceId, limit]);
    return rows.map((r) => ({ ...r, dedupLoser: r.dedupLoser === 1 }));
  }

  async deleteFragment(instanceId: string, datasetId: string, recordKey: string): Promise<{ customerId: string; recordJson: string } | undefined> {
    return this.db.get('DELETE FROM fragments WHERE instance_id = ? AND dataset_id = ? AND record_key = ? RETURNING customer_id AS "customerId", record AS "recordJson"', [instanceId, datasetId, recordKey]);
  }

  async customerFragments(instanceId: string, customerId: string): Promise<Array<{ datasetId: string; recordJson: string }>> {
    return this.db.all('SELECT dataset_id AS "datasetId", record AS "recordJson" FROM fragments WHERE instance_id = ? AND customer_id = ?', [instanceId, customerId]);
  }

  async dropProfileIfEmpty(instanceId: string, customerId: string): Promise<boolean> {
    const used = await this.db.get(
      'SELECT 1 AS one FROM fragments WHERE instance_id = ? AND customer_id = ? UNION ALL SELECT 1 AS one FROM activities WHERE instance_id = ? AND customer_id = ? LIMIT 1',
      [instanceId, customerId, instanceId, customerId],
    );
    if (used) return false;
    for (const table of ['identities', 'overrides', 'enrichments']) await this.db.run(`DELETE FROM ${table} WHERE instance_id = ? AND customer_id = ?`, [instanceId, customerId]);
    return (await this.db.run('DELETE FROM profiles WHERE instance_id = ? AND customer_id = ?', [instanceId, customerId])).changes > 0;
  }

  async publishRefresh(instanceId: string, p: RefreshPublication): Promise<void> {
    for (const id of p.created) await this.createProfile(instanceId, id, p.at);
    // Absorbed profiles move whole to their survivors first; the per-record moves then place a split's records.
    for (const a of p.absorbed) {
      await this.mergeProfiles(instanceId, { id: `${p.runId}:${a.absorbedId}`, survivorId: a.survivorId, absorbedId: a.absorbedId, datasetId: null, recordKey: null, at: p.at });
    }
    for (const f of p.fragments) {
      await this.db.run('UPDATE fragments SET customer_id = ?, dedup_loser = ? WHERE instance_id = ? AND dataset_id = ? AND record_key = ?', [f.customerId, f.dedupLoser ? 1 : 0, instanceId, f.datasetId, f.recordKey]);
    }
    for (const i of p.identities) await this.db.run('UPDATE identities SET customer_id = ? WHERE instance_id = ? AND namespace = ? AND value = ?', [i.customerId, instanceId, i.namespace, i.value]);
    for (const id of new Set(p.fragments.map((f) => f.customerId))) await this.touch(instanceId, id, p.at);
    await this.db.run('DELETE FROM enrichments WHERE instance_id = ?', [instanceId]);
    for (const e of p.enrichments) await this.db.run('INSERT INTO enrichments (instance_id, customer_id, attributes, run_id) VALUES (?, ?, ?, ?)', [instanceId, e.customerId, e.attributesJson, p.runId]);
  }

  async logOffset(consumer: string): Promise<number> {
    return (await this.db.get<{ seq: number }>('SELECT seq FROM log_offsets WHERE consumer = ? FOR UPDATE', [consumer]))?.seq ?? 0;
  }

  async setLogOffset(consumer: string, seq: number): Promise<void> {
    await this.db.run('INSERT INTO log_offsets (consumer, seq) VALUES (?, ?) ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq', [consumer, seq]);
  }
}
