import type { MergeRow, NewActivity, NewFragment } from '../../ports/profile-store.js';

/** What a transaction knows of a stored row: its content hash and profile (null: known absent). */
export type RowState = { hash: string; customerId: string } | null;

export interface GraphEntry {
  namespace: string;
  value: string;
  firstSeen: number;
}

/** Written in this order: new profiles, merges, then the rows that already name the survivors. */
export interface PendingWrites {
  profiles: Array<{ instanceId: string; customerId: string; at: number }>;
  merges: Array<MergeRow & { instanceId: string }>;
  identities: Array<{ instanceId: string; namespace: string; value: string; customerId: string; at: number }>;
  /** Keyed by instance, dataset and record key: a later record of the group replaces an earlier one. `isNew`: not in the table when read ahead (nor written by this transaction since). */
  fragments: Map<string, { instanceId: string; fragment: NewFragment; isNew: boolean }>;
  activities: Array<{ instanceId: string; activity: NewActivity }>;
}

// Map keys: the parts joined by NUL (which no part holds). Written out, not `parts.join`: the
// worker makes several a record, and a rest array joined cost 4% of its time.
export const identityKeyOf = (instanceId: string, namespace: string, value: string): string => `${instanceId}\u0000${namespace}\u0000${value}`;
export const fragmentKeyOf = (instanceId: string, datasetId: string, recordKey: string): string => `${instanceId}\u0000${datasetId}\u0000${recordKey}`;
export const activityKeyOf = (instanceId: string, activityId: string): string => `${instanceId}\u0000${activityId}`;
export const profileKeyOf = (instanceId: string, customerId: string): string => `${instanceId}\u0000${customerId}`;

/**
 * What one write transaction has read ahead and not yet written, so that a group of records costs
 * a few statements instead of several per record: identity owners, fragment and activity states,
 * graph sizes (as of the transaction, this transaction's writes included), and the new rows to
 * write in bulk before the transaction commits or runs anything that reads them.
 */
export class GroupState {
  readonly owners = new Map<string, string | null>();
  readonly fragments = new Map<string, RowState>();
  readonly activities = new Map<string, RowState>();
  /** Profiles merged away in this transaction → their survivor (follow with `live`). */
  private readonly survivors = new Map<string, string>();
  /** Each read-ahead profile's identities. */
  readonly graphs = new Map<string, GraphEntry[]>();
  pending: PendingWrites = GroupState.empty();

  private static empty(): PendingWrites {
    return { profiles: [], merges: [], identities: [], fragments: new Map(), activities: [] };
  }

  hasPending(): boolean {
    const p = this.pending;
    return p.profiles.length + p.merges.length + p.identities.length + p.fragments.size + p.activities.length > 0;
  }

  /** The profile that holds what `customerId` held, following this transaction's merges. */
  live(instanceId: string, customerId: string): string {
    let id = customerId;
    for (let next = this.survivors.get(profileKeyOf(instanceId, id)); next !== undefined; next = this.survivors.get(profileKeyOf(instanceId, id))) id = next;
    return id;
  }

  /** What to write, the rows naming the profiles that hold them now (they are written after the merges). */
  takePending(): PendingWrites {
    const p = this.pending;
    this.pending = GroupState.empty();
    if (p.merges.length === 0) return p;
    for (const row of p.identities) row.customerId = this.live(row.instanceId, row.customerId);
    for (const row of p.fragments.values()) row.fragment = { ...row.fragment, customerId: this.live(row.instanceId, row.fragment.customerId) };
    for (const row of p.activities) row.activity = { ...row.activity, customerId: this.live(row.instanceId, row.activity.customerId) };
    return p;
  }

  /** Forgets everything read (after a rollback to a savepoint, or a statement that rewrites many rows). */
  forget(): void {
    this.owners.clear();
    this.fragments.clear();
    this.activities.clear();
    this.graphs.clear();
    this.survivors.clear();
    this.pending = GroupState.empty();
  }

  /** Everything of `absorbedId` now belongs to `survivorId` (what was read follows through `live`). */
  merged(instanceId: string, m: MergeRow): void {
    const { survivorId, absorbedId } = m;
    this.pending.merges.push({ ...m, instanceId });
    this.survivors.set(profileKeyOf(instanceId, absorbedId), survivorId);
    const survivor = profileKeyOf(instanceId, survivorId);
    const absorbed = profileKeyOf(instanceId, absorbedId);
    const a = this.graphs.get(absorbed);
    const s = this.graphs.get(survivor);
    if (a !== undefined && s !== undefined) this.graphs.set(survivor, [...s, ...a]);
    else this.graphs.delete(survivor);
    this.graphs.delete(absorbed);
  }

  /** A profile and its identities are gone. */
  profileDropped(instanceId: string, customerId: string): void {
    for (const [k, owner] of this.owners) if (owner !== null && k.startsWith(instanceId + '\u0000') && this.live(instanceId, owner) === customerId) this.owners.set(k, null);
    this.graphs.delete(profileKeyOf(instanceId, customerId));
  }
}
