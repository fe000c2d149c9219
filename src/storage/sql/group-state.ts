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
  /** Keyed by instance, dataset and record key: a later record of the group replaces an earlier one. */
  fragments: Map<string, { instanceId: string; fragment: NewFragment }>;
  activities: Array<{ instanceId: string; activity: NewActivity }>;
}

const key = (...parts: string[]): string => parts.join('\u0000');

export const identityKeyOf = (instanceId: string, namespace: string, value: string): string => key(instanceId, namespace, value);
export const fragmentKeyOf = (instanceId: string, datasetId: string, recordKey: string): string => key(instanceId, datasetId, recordKey);
export const activityKeyOf = (instanceId: string, activityId: string): string => key(instanceId, activityId);
export const profileKeyOf = (instanceId: string, customerId: string): string => key(instanceId, customerId);

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

  takePending(): PendingWrites {
    const p = this.pending;
    this.pending = GroupState.empty();
    return p;
  }

  /** Forgets everything read (after a rollback to a savepoint, or a statement that rewrites many rows). */
  forget(): void {
    this.owners.clear();
    this.fragments.clear();
    this.activities.clear();
    this.graphs.clear();
    this.pending = GroupState.empty();
  }

  /**
   * Everything of `absorbedId` now belongs to `survivorId`: what was read, and the rows not yet
   * written (they are written after the merge, so they name the survivor).
   */
  merged(instanceId: string, m: MergeRow): void {
    const { survivorId, absorbedId } = m;
    this.pending.merges.push({ ...m, instanceId });
    const ours = (k: string): boolean => k.startsWith(instanceId + '\u0000');
    for (const [k, owner] of this.owners) if (owner === absorbedId && ours(k)) this.owners.set(k, survivorId);
    for (const states of [this.fragments, this.activities]) {
      for (const [k, s] of states) if (s?.customerId === absorbedId && ours(k)) states.set(k, { ...s, customerId: survivorId });
    }
    const p = this.pending;
    for (const row of p.identities) if (row.customerId === absorbedId && row.instanceId === instanceId) row.customerId = survivorId;
    for (const row of p.fragments.values()) if (row.fragment.customerId === absorbedId && row.instanceId === instanceId) row.fragment = { ...row.fragment, customerId: survivorId };
    for (const row of p.activities) if (row.activity.customerId === absorbedId && row.instanceId === instanceId) row.activity = { ...row.activity, customerId: survivorId };
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
    for (const [k, owner] of this.owners) if (owner === customerId && k.startsWith(instanceId + '\u0000')) this.owners.set(k, null);
    this.graphs.delete(profileKeyOf(instanceId, customerId));
  }
}
