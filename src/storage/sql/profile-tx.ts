import { valuesByNamespace } from '../../domain/identity/link-plan.js';
import { identityKey, type Identity } from '../../domain/identity/extract.js';
import { TransactionConflict, type FailedRecord, type FragmentScanRow, type GroupLookups, type IdentityWarning, type MergeRow, type NewActivity, type NewFragment, type OverrideRow, type ProfileTx, type RefreshPublication } from '../../ports/profile-store.js';
import { GroupState, activityKeyOf, fragmentKeyOf, identityKeyOf, profileKeyOf, type Carried, type GraphEntry, type RowState } from './group-state.js';
import { FRAGMENT_SCAN_COLUMNS } from './profile-rows.js';
import type { SqlClient } from './sql-client.js';
import { arrayList, bigintArray, textArray } from './array-params.js';
import { flushPending } from './write-pending.js';

/** The transaction before this one in its writer, still committing: what it wrote, and its commit. */
export interface Predecessor {
  carried: Carried;
  committed: Promise<void>;
  /** Whether it has committed or failed by now. */
  ended(): boolean;
}

/**
 * The write side of profile state on PostgreSQL, on one transaction's client. Each statement is
 * a round trip, so a group of records is read ahead (`readAhead`) and its lookups answered from
 * memory; new profiles, identities, fragments and activities are written in bulk (`flush`) before
 * anything that reads them and before the transaction commits. Every read ahead probes an index
 * once a key (`LATERAL`), whatever the planner's statistics say: during a first load they are
 * those of much smaller tables (autovacuum analyzes about once a minute), and a lookup of many
 * keys planned by them was a scan of the whole table.
 *
 * With a `Predecessor` (its writer's transaction before, still writing and committing), this one
 * reads ahead and works through its records meanwhile, starting from what that one wrote: its
 * reads do not see those writes yet. Every statement but the read-ahead's waits for the gate
 * (`gate`): the predecessor committed (else this one runs again), and the profiles this one found
 * are locked and hold the identities it read.
 */
export class SqlProfileTx implements ProfileTx {
  private savepoints = 0;
  private readonly group: GroupState;
  /** Statements that may write or must see the predecessor's writes: each waits for the gate. */
  private readonly db: SqlClient;
  /** Whether the gate is behind: no predecessor, or it committed and this one's deferred locks are held. */
  private open: boolean;
  private gatePassed: Promise<void> | undefined;
  /** The profiles this transaction found before its gate, by instance: locked at the gate. */
  private readonly deferred = new Map<string, Set<string>>();

  private readonly predecessor: Predecessor | undefined;

  /** `handsOn`: what this transaction writes is kept for `carry` (its writer overlaps transactions). */
  constructor(
    private readonly raw: SqlClient,
    options: { predecessor?: Predecessor | undefined; handsOn?: boolean } = {},
  ) {
    this.predecessor = options.predecessor;
    this.group = new GroupState(this.predecessor?.carried, options.handsOn ?? false);
    this.open = this.predecessor === undefined;
    const gated = async <T>(run: () => Promise<T>): Promise<T> => {
      await this.gate();
      return run();
    };
    // Without a predecessor there is no gate to wait for.
    this.db = this.open
      ? raw
      : {
          all: (sql, params) => gated(() => raw.all(sql, params)),
          get: (sql, params) => gated(() => raw.get(sql, params)),
          run: (sql, params) => gated(() => raw.run(sql, params)),
          transaction: (fn) => gated(() => raw.transaction(fn)),
        };
  }

  /**
   * Waits until this transaction may write: its predecessor committed (one that failed fails this
   * one too, as a lost race: it runs again), the profiles this one found are locked (one merged
   * away meanwhile is a lost race), and the identities it read of them are still theirs (else
   * another writer changed them meanwhile: a lost race).
   */
  gate(): Promise<void> {
    if (this.open) return Promise.resolve();
    return (this.gatePassed ??= this.passGate());
  }

  private async passGate(): Promise<void> {
    try {
      await this.predecessor!.committed;
    } catch {
      throw new TransactionConflict('the transaction before this one in its writer did not commit');
    }
    for (const [instanceId, found] of this.deferred) {
      const ids = new Set([...found].map((id) => this.group.liveBefore(instanceId, id)));
      await this.lockProfiles(instanceId, [...ids], this.raw);
      const expected = [...ids].filter((id) => this.group.graphSizesAsRead.has(profileKeyOf(instanceId, id)));
      if (expected.length === 0) continue;
      const list = textArray(expected);
      const rows = await this.raw.all<{ customer_id: string; n: number }>(
        `SELECT k.customer_id, (SELECT count(*) FROM identities WHERE instance_id = ? AND customer_id = k.customer_id) AS n FROM unnest(${list.sql}) AS k(customer_id)`,
        [instanceId, list.param],
      );
      for (const row of rows) {
        if (Number(row.n) !== this.group.graphSizesAsRead.get(profileKeyOf(instanceId, row.customer_id))) {
          throw new TransactionConflict('another writer changed the identities of a profile this transaction read before its predecessor committed');
        }
      }
    }
    this.open = true;
  }

  async isolated<T>(fn: () => Promise<T>): Promise<T> {
    await this.flush();
    const name = `record_${++this.savepoints}`;
    await this.db.run(`SAVEPOINT ${name}`);
    try {
      const result = await fn();
      await this.flush();
      await this.db.run(`RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (err) {
      await this.db.run(`ROLLBACK TO SAVEPOINT ${name}`);
      await this.db.run(`RELEASE SAVEPOINT ${name}`);
      // What was read or written inside may have been undone.
      this.group.forget();
      throw err;
    }
  }

  /** Writes what the group added so far (before the transaction commits, and before a statement that reads it). */
  async flush(): Promise<void> {
    if (this.group.hasPending()) await flushPending(this.db, this.group.takePending());
  }

  async readAhead(lookups: readonly GroupLookups[]): Promise<void> {
    for (const l of lookups) {
      await this.fetchOwners(l.instanceId, l.records.flat());
      await this.fetchGraphs(l.instanceId, this.graphsNeeded(l.instanceId, l.records));
      await this.fetchFragmentStates(l.instanceId, l.fragments);
      await this.fetchActivityStates(l.instanceId, l.activityIds);
    }
  }

  /**
   * The stored profiles whose identities the records may need (their owners known): those of a
   * record that links an identity nobody holds to one (the graph's size is checked), or that joins
   * several (unique namespaces are compared, then the survivor's size). A record whose identities
   * all belong to one profile links nothing: an activity of a known person reads no graph. One
   * needed after all (a record ahead in the group changed things) is read when asked for.
   */
  private graphsNeeded(instanceId: string, records: readonly Identity[][]): string[] {
    const needed = new Set<string>();
    for (const identities of records) {
      // No set a record (most need no graph): whether its owners differ is told as they come.
      const owners = identities.map((i) => this.group.owners.get(identityKeyOf(instanceId, i.namespace, i.value)));
      let unowned = false;
      let first: string | undefined;
      let several = false;
      for (const owner of owners) {
        if (owner === null || owner === undefined) unowned = true;
        else if (first === undefined) first = this.group.live(instanceId, owner);
        else if (!several && this.group.live(instanceId, owner) !== first) several = true;
      }
      if (several || (first !== undefined && unowned)) for (const owner of owners) if (owner) needed.add(this.group.live(instanceId, owner));
    }
    return [...needed];
  }

  /**
   * Reads the owners of those identities the group state does not know yet (null: not in the
   * graph) and locks them shared.
   */
  private async fetchOwners(instanceId: string, all: readonly Identity[]): Promise<void> {
    const identities = all.filter((i) => !this.group.owners.has(identityKeyOf(instanceId, i.namespace, i.value)));
    if (identities.length === 0) return;
    const keys = arrayList(textArray(identities.map((i) => i.namespace)), textArray(identities.map((i) => i.value)));
    const rows = await this.raw.all<{ namespace: string; value: string; customer_id: string }>(
      // One index probe a key, whatever the statistics say (LATERAL … LIMIT 1 is planned per key;
      // a join may be planned as a scan of every identity of the instance).
      `SELECT k.namespace, k.value, i.customer_id FROM unnest(${keys.sql}) AS k(namespace, value)
         CROSS JOIN LATERAL (SELECT customer_id FROM identities WHERE instance_id = ? AND namespace = k.namespace AND value = k.value LIMIT 1) i`,
      [...keys.params, instanceId],
    );
    for (const i of identities) this.group.owners.set(identityKeyOf(instanceId, i.namespace, i.value), null);
    for (const row of rows) this.group.owners.set(identityKeyOf(instanceId, row.namespace, row.value), row.customer_id);
    const owners = [...new Set(rows.map((r) => r.customer_id))];
    // Before the gate nothing is locked: see `deferLocks`.
    if (this.open) await this.lockProfiles(instanceId, owners, this.db);
    else this.deferLocks(instanceId, owners);
  }

  /**
   * Profiles found before the gate are locked at the gate. Locked now, a merge in another writer
   * that needs one exclusively could wait for this transaction while this one waits (here, not in
   * the database, where a deadlock would be seen) for its predecessor, which waits for that merge.
   */
  private deferLocks(instanceId: string, customerIds: readonly string[]): void {
    for (const id of customerIds) this.deferLock(instanceId, id);
  }

  private deferLock(instanceId: string, customerId: string): void {
    if (this.group.createdByThis(instanceId, customerId)) return;
    let ids = this.deferred.get(instanceId);
    if (!ids) this.deferred.set(instanceId, (ids = new Set()));
    ids.add(customerId);
  }

  /** Reads the identities of the profiles whose graph the group state does not hold yet (after writing what is pending: it may add to them). */
  private async fetchGraphs(instanceId: string, all: readonly string[]): Promise<void> {
    const customerIds = all.filter((id) => !this.group.graphs.has(profileKeyOf(instanceId, id)));
    if (customerIds.length === 0) return;
    // What the predecessor wrote of a profile and did not hold is read once it has committed.
    if (!this.open && customerIds.some((id) => this.group.graphUnknownBefore(instanceId, id))) await this.gate();
    await this.flush();
    const ids = textArray(customerIds);
    const rows = await this.raw.all<{ customer_id: string; namespace: string; value: string; first_seen: number }>(
      // Index probes a profile (OFFSET 0 keeps the subquery from being planned as a join: with
      // the default costs, a few hundred profiles against a table of tens of thousands of rows
      // were read by a scan of every identity of the table).
      `SELECT k.customer_id, i.namespace, i.value, i.first_seen FROM unnest(${ids.sql}) AS k(customer_id)
         CROSS JOIN LATERAL (SELECT namespace, value, first_seen FROM identities WHERE instance_id = ? AND customer_id = k.customer_id OFFSET 0) i`,
      [ids.param, instanceId],
    );
    const graphs = new Map<string, GraphEntry[]>(customerIds.map((id) => [id, []]));
    for (const row of rows) graphs.get(row.customer_id)?.push({ namespace: row.namespace, value: row.value, firstSeen: row.first_seen });
    for (const [id, graph] of graphs) this.group.graphs.set(profileKeyOf(instanceId, id), graph);
    if (!this.open) for (const [id, graph] of graphs) this.group.graphSizesAsRead.set(profileKeyOf(instanceId, id), graph.length);
  }

  private async graphOf(instanceId: string, customerId: string): Promise<GraphEntry[]> {
    await this.fetchGraphs(instanceId, [customerId]);
    return this.group.graphs.get(profileKeyOf(instanceId, customerId))!;
  }

  private async fetchFragmentStates(instanceId: string, all: ReadonlyArray<{ datasetId: string; recordKey: string }>): Promise<void> {
    const keys = all.filter((f) => !this.group.fragments.has(fragmentKeyOf(instanceId, f.datasetId, f.recordKey)));
    if (keys.length === 0) return;
    const a = arrayList(textArray(keys.map((k) => k.datasetId)), textArray(keys.map((k) => k.recordKey)));
    const rows = await this.raw.all<{ dataset_id: string; record_key: string; hash: string; customer_id: string }>(
      `SELECT k.dataset_id, k.record_key, f.hash, f.customer_id FROM unnest(${a.sql}) AS k(dataset_id, record_key)
         CROSS JOIN LATERAL (SELECT hash, customer_id FROM fragments WHERE instance_id = ? AND dataset_id = k.dataset_id AND record_key = k.record_key LIMIT 1) f`,
      [...a.params, instanceId],
    );
    for (const k of keys) this.group.fragments.set(fragmentKeyOf(instanceId, k.datasetId, k.recordKey), null);
    for (const row of rows) this.group.fragments.set(fragmentKeyOf(instanceId, row.dataset_id, row.record_key), { hash: row.hash, customerId: row.customer_id });
  }

  private async fetchActivityStates(instanceId: string, all: readonly string[]): Promise<void> {
    const activityIds = [...new Set(all)].filter((id) => !this.group.activities.has(activityKeyOf(instanceId, id)));
    if (activityIds.length === 0) return;
    const ids = textArray(activityIds);
    const rows = await this.raw.all<{ activity_id: string; hash: string; customer_id: string }>(
      `SELECT k.activity_id, a.hash, a.customer_id FROM unnest(${ids.sql}) AS k(activity_id)
         CROSS JOIN LATERAL (SELECT hash, customer_id FROM activities WHERE instance_id = ? AND activity_id = k.activity_id LIMIT 1) a`,
      [ids.param, instanceId],
    );
    for (const id of activityIds) this.group.activities.set(activityKeyOf(instanceId, id), null);
    for (const row of rows) this.group.activities.set(activityKeyOf(instanceId, row.activity_id), { hash: row.hash, customerId: row.customer_id });
  }

  // A record's lookups (owners here, and fragment and activity states) are nearly always answered
  // by the read-ahead: each key is made once, and the batch path (sets, filters, a statement) runs
  // only for one that is not known yet.
  async identityOwners(instanceId: string, identities: readonly Identity[]): Promise<Map<string, string>> {
    const keys = identities.map((i) => identityKeyOf(instanceId, i.namespace, i.value));
    if (keys.some((k) => !this.group.owners.has(k))) await this.fetchOwners(instanceId, identities);
    const out = new Map<string, string>();
    for (let n = 0; n < identities.length; n++) {
      const owner = this.group.owners.get(keys[n]!);
      if (!owner) continue;
      if (!this.open) this.deferLock(instanceId, owner);
      out.set(identityKey(identities[n]!), this.group.live(instanceId, owner));
    }
    return out;
  }

  /**
   * Locks profiles shared, in a fixed order (by id), until the transaction ends. A merge (which
   * locks both profiles exclusively, see merge_profiles) in another transaction then waits for this
   * one and sees all of it, or this one waits for the merge and finds the profile gone: a conflict,
   * run again.
   */
  private async lockProfiles(instanceId: string, customerIds: readonly string[], db: SqlClient): Promise<void> {
    if (customerIds.length === 0) return;
    const ids = textArray(customerIds);
    const rows = await db.all<{ customer_id: string }>(
      // An index probe a profile, in id order (the sorted ids drive the probes one after another).
      `SELECT p.customer_id FROM (SELECT DISTINCT unnest(${ids.sql}) AS id ORDER BY 1) k
         CROSS JOIN LATERAL (SELECT customer_id FROM profiles WHERE instance_id = ? AND customer_id = k.id LIMIT 1 FOR SHARE) p`,
      [ids.param, instanceId],
    );
    if (rows.length !== new Set(customerIds).size) throw new TransactionConflict('a profile this record names was merged away by another writer meanwhile');
  }

  async holdOffWriters(): Promise<void> {
    this.group.markOpaque();
    // Conflicts with the row locks and writes of every other writer: they wait until this one ends.
    await this.db.run('LOCK TABLE profiles IN SHARE ROW EXCLUSIVE MODE');
  }

  async uniqueValues(instanceId: string, customerId: string, namespaces: readonly string[]): Promise<Map<string, Set<string>>> {
    return valuesByNamespace(await this.graphOf(instanceId, customerId), namespaces);
  }

  createProfile(instanceId: string, customerId: string, at: number): void {
    this.group.pending.profiles.push({ instanceId, customerId, at });
    this.group.created(instanceId, customerId);
  }

  /** Written with the group (merge_profiles: both locked, everything of the absorbed moved, the absorbed id kept resolving). */
  mergeProfiles(instanceId: string, m: MergeRow): void {
    this.group.merged(instanceId, m);
  }

  private async touch(instanceId: string, customerId: string, at: number): Promise<void> {
    await this.db.run('UPDATE profiles SET updated_at = ? WHERE instance_id = ? AND customer_id = ? AND updated_at < ?', [at, instanceId, customerId, at]);
  }

  linkIdentities(instanceId: string, customerId: string, identities: readonly Identity[], at: number): void {
    for (const i of identities) {
      const k = identityKeyOf(instanceId, i.namespace, i.value);
      const owner = this.group.owners.get(k);
      if (owner && this.group.live(instanceId, owner) === customerId) continue;
      this.group.pending.identities.push({ instanceId, namespace: i.namespace, value: i.value, customerId, at });
      this.group.linked(instanceId, i.namespace, i.value, customerId, at);
    }
  }

  async graphIdentities(instanceId: string, customerId: string): Promise<GraphEntry[]> {
    return [...(await this.graphOf(instanceId, customerId))];
  }

  async graphSize(instanceId: string, customerId: string): Promise<number> {
    return (await this.graphOf(instanceId, customerId)).length;
  }

  async dropIdentities(instanceId: string, identities: ReadonlyArray<{ namespace: string; value: string }>): Promise<void> {
    await this.flush();
    this.group.markOpaque();
    for (const id of identities) {
      await this.db.run('DELETE FROM identities WHERE instance_id = ? AND namespace = ? AND value = ?', [instanceId, id.namespace, id.value]);
      this.group.owners.set(identityKeyOf(instanceId, id.namespace, id.value), null);
    }
    this.group.graphs.clear();
  }

  async upsertFragment(instanceId: string, f: NewFragment): Promise<boolean> {
    const k = fragmentKeyOf(instanceId, f.datasetId, f.recordKey);
    if (!this.group.fragments.has(k)) await this.fetchFragmentStates(instanceId, [f]);
    const stored = this.group.fragments.get(k)!;
    if (stored && stored.hash === f.hash && this.group.live(instanceId, stored.customerId) === f.customerId) return false;
    // New while no row was read or written for its key (a record replacing a pending one keeps its kind).
    this.group.pending.fragments.set(k, { instanceId, fragment: f, isNew: this.group.pending.fragments.get(k)?.isNew ?? stored === null });
    this.group.wroteFragment(k, { hash: f.hash, customerId: f.customerId });
    return true;
  }

  async existingActivity(instanceId: string, activityId: string): Promise<{ hash: string; customerId: string } | undefined> {
    const stored = await this.activityState(instanceId, activityId);
    return stored ? { hash: stored.hash, customerId: this.group.live(instanceId, stored.customerId) } : undefined;
  }

  private async activityState(instanceId: string, activityId: string): Promise<RowState> {
    const k = activityKeyOf(instanceId, activityId);
    if (!this.group.activities.has(k)) await this.fetchActivityStates(instanceId, [activityId]);
    return this.group.activities.get(k)!;
  }

  async insertActivity(instanceId: string, a: NewActivity): Promise<boolean> {
    if ((await this.activityState(instanceId, a.activityId)) !== null) return false;
    this.group.pending.activities.push({ instanceId, activity: a });
    this.group.wroteActivity(activityKeyOf(instanceId, a.activityId), { hash: a.hash, customerId: a.customerId });
    return true;
  }

  async resolveCustomer(instanceId: string, customerId: string): Promise<string | undefined> {
    await this.flush();
    // Locked (shared) so that a merge cannot take the profile away before this transaction ends.
    if (await this.db.get('SELECT 1 AS one FROM profiles WHERE instance_id = ? AND customer_id = ? FOR SHARE', [instanceId, customerId])) return customerId;
    const survivor = (await this.db.get<{ survivor_id: string }>('SELECT survivor_id FROM customer_aliases WHERE instance_id = ? AND old_id = ?', [instanceId, customerId]))?.survivor_id;
    if (survivor !== undefined) await this.lockProfiles(instanceId, [survivor], this.db);
    return survivor;
  }

  async upsertOverrides(instanceId: string, customerId: string, overrides: readonly OverrideRow[]): Promise<void> {
    await this.flush();
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
    await this.flush();
    this.group.forget();
    for (const table of ['profiles', 'customer_aliases', 'identities', 'fragments', 'activities', 'merges', 'identity_warnings', 'overrides', 'enrichments']) {
      await this.db.run(`DELETE FROM ${table} WHERE instance_id = ?`, [instanceId]);
    }
    await this.db.run(`DELETE FROM lake_watermarks WHERE segment LIKE ? ESCAPE '\\'`, [`${instanceId.replaceAll('_', '\\_').replaceAll('%', '\\%')}/%`]);
  }

  async sweepExpired(now: number): Promise<{ overrides: number; activities: number }> {
    await this.flush();
    this.group.forget();
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
    await this.flush();
    const rows = after
      ? await this.db.all<Omit<FragmentScanRow, 'dedupLoser'> & { dedupLoser: number }>(
          `SELECT ${FRAGMENT_SCAN_COLUMNS} FROM fragments WHERE instance_id = ? AND (dataset_id, record_key) > (?, ?) ORDER BY dataset_id, record_key LIMIT ?`,
          [instanceId, after.datasetId, after.recordKey, limit],
        )
      : await this.db.all<Omit<FragmentScanRow, 'dedupLoser'> & { dedupLoser: number }>(`SELECT ${FRAGMENT_SCAN_COLUMNS} FROM fragments WHERE instance_id = ? ORDER BY dataset_id, record_key LIMIT ?`, [instanceId, limit]);
    return rows.map((r) => ({ ...r, dedupLoser: r.dedupLoser === 1 }));
  }

  async deleteFragment(instanceId: string, datasetId: string, recordKey: string): Promise<{ customerId: string; recordJson: string } | undefined> {
    await this.flush();
    this.group.markOpaque();
    this.group.fragments.set(fragmentKeyOf(instanceId, datasetId, recordKey), null);
    return this.db.get('DELETE FROM fragments WHERE instance_id = ? AND dataset_id = ? AND record_key = ? RETURNING customer_id AS "customerId", record AS "recordJson"', [instanceId, datasetId, recordKey]);
  }

  async customerFragments(instanceId: string, customerId: string): Promise<Array<{ datasetId: string; recordJson: string }>> {
    await this.flush();
    return this.db.all('SELECT dataset_id AS "datasetId", record AS "recordJson" FROM fragments WHERE instance_id = ? AND customer_id = ?', [instanceId, customerId]);
  }

  async dropProfileIfEmpty(instanceId: string, customerId: string): Promise<boolean> {
    await this.flush();
    const used = await this.db.get(
      'SELECT 1 AS one FROM fragments WHERE instance_id = ? AND customer_id = ? UNION ALL SELECT 1 AS one FROM activities WHERE instance_id = ? AND customer_id = ? LIMIT 1',
      [instanceId, customerId, instanceId, customerId],
    );
    if (used) return false;
    for (const table of ['identities', 'overrides', 'enrichments']) await this.db.run(`DELETE FROM ${table} WHERE instance_id = ? AND customer_id = ?`, [instanceId, customerId]);
    this.group.profileDropped(instanceId, customerId);
    return (await this.db.run('DELETE FROM profiles WHERE instance_id = ? AND customer_id = ?', [instanceId, customerId])).changes > 0;
  }

  async publishRefresh(instanceId: string, p: RefreshPublication): Promise<void> {
    await this.flush();
    this.group.forget();
    for (const id of p.created) this.createProfile(instanceId, id, p.at);
    await this.flush();
    // Absorbed profiles move whole to their survivors first; the per-record moves then place a split's records.
    for (const a of p.absorbed) {
      this.mergeProfiles(instanceId, { id: `${p.runId}:${a.absorbedId}`, survivorId: a.survivorId, absorbedId: a.absorbedId, datasetId: null, recordKey: null, at: p.at });
    }
    await this.flush();
    for (const f of p.fragments) {
      await this.db.run('UPDATE fragments SET customer_id = ?, dedup_loser = ? WHERE instance_id = ? AND dataset_id = ? AND record_key = ?', [f.customerId, f.dedupLoser ? 1 : 0, instanceId, f.datasetId, f.recordKey]);
    }
    for (const i of p.identities) await this.db.run('UPDATE identities SET customer_id = ? WHERE instance_id = ? AND namespace = ? AND value = ?', [i.customerId, instanceId, i.namespace, i.value]);
    for (const id of new Set(p.fragments.map((f) => f.customerId))) await this.touch(instanceId, id, p.at);
    await this.db.run('DELETE FROM enrichments WHERE instance_id = ?', [instanceId]);
    for (const e of p.enrichments) await this.db.run('INSERT INTO enrichments (instance_id, customer_id, attributes, run_id) VALUES (?, ?, ?, ?)', [instanceId, e.customerId, e.attributesJson, p.runId]);
    await this.flush();
    this.group.forget();
  }

  async setBatchAppliedThrough(instanceId: string, batchId: string, row: number): Promise<void> {
    await this.db.run('UPDATE batches SET applied_through_row = ? WHERE instance_id = ? AND id = ?', [row, instanceId, batchId]);
  }

  /** Read before the gate: the rows of this transaction's own consumers, one statement for all (one the predecessor holds is waited for by PostgreSQL). */
  async logOffsets(consumers: readonly string[]): Promise<Map<string, number>> {
    const offsets = new Map(consumers.map((c) => [c, 0]));
    if (consumers.length === 0) return offsets;
    const list = textArray(consumers);
    // Locked as they come out of the sort: in the consumers' order, as every writer takes them.
    const rows = await this.raw.all<{ consumer: string; seq: number }>(`SELECT consumer, seq FROM log_offsets WHERE consumer = ANY(${list.sql}) ORDER BY consumer FOR UPDATE`, [list.param]);
    for (const row of rows) offsets.set(row.consumer, Number(row.seq));
    return offsets;
  }

  async setLogOffsets(offsets: ReadonlyMap<string, number>): Promise<void> {
    if (offsets.size === 0) return;
    const a = arrayList(textArray([...offsets.keys()]), bigintArray([...offsets.values()]));
    await this.db.run(`INSERT INTO log_offsets (consumer, seq) SELECT * FROM unnest(${a.sql}) ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq`, a.params);
  }

  /** What this transaction wrote, for the next one of its writer to start from while this one commits (undefined: it must wait for the commit). */
  carry(): Carried | undefined {
    return this.group.carry();
  }
}
