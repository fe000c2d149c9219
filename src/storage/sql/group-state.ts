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
 * What a transaction wrote, handed to the transaction after it while it is still committing: that
 * one's reads do not see these writes yet, so it starts from them (see SqlProfileWriter). Only what
 * it wrote: everything else the next one reads itself.
 */
export interface Carried {
  owners: ReadonlyMap<string, string | null>;
  fragments: ReadonlyMap<string, RowState>;
  activities: ReadonlyMap<string, RowState>;
  /** Its merges: absorbed profile → survivor. */
  survivors: ReadonlyMap<string, string>;
  /** The identities of the profiles it wrote (created, linked to, merged), where it held them. */
  graphs: ReadonlyMap<string, readonly GraphEntry[]>;
  /** Profiles it wrote: created, linked to, merged into or away. */
  touched: ReadonlySet<string>;
}

/**
 * What one write transaction has read ahead and not yet written, so that a group of records costs
 * a few statements instead of several per record: identity owners, fragment and activity states,
 * graph sizes (as of the transaction, this transaction's writes included), and the new rows to
 * write in bulk before the transaction commits or runs anything that reads them. It may start from
 * what the transaction before wrote (`Carried`).
 */
export class GroupState {
  readonly owners = new Map<string, string | null>();
  readonly fragments = new Map<string, RowState>();
  readonly activities = new Map<string, RowState>();
  /** Profiles merged away in this transaction, or in the one before it (carried) → their survivor (follow with `live`). */
  private readonly survivors = new Map<string, string>();
  /** Each read-ahead profile's identities. */
  readonly graphs = new Map<string, GraphEntry[]>();
  pending: PendingWrites = GroupState.empty();
  /** What this transaction wrote (for `carry`). */
  private readonly written = { owners: new Map<string, string | null>(), fragments: new Map<string, RowState>(), activities: new Map<string, RowState>(), survivors: new Map<string, string>(), touched: new Set<string>() };
  private readonly createdHere = new Set<string>();
  /** Something was written or forgotten that `carry` cannot hand on: the next transaction must wait for the commit. */
  private opaque = false;
  /** The sizes of the graphs read before the predecessor committed, or carried from it (checked once it has). */
  readonly graphSizesAsRead = new Map<string, number>();

  /** `handsOn`: keep what this transaction writes for `carry` (else `carry` hands on nothing). */
  constructor(
    private readonly before?: Carried,
    private readonly handsOn = false,
  ) {
    if (!before) return;
    for (const [k, v] of before.owners) this.owners.set(k, v);
    for (const [k, v] of before.fragments) this.fragments.set(k, v);
    for (const [k, v] of before.activities) this.activities.set(k, v);
    for (const [k, v] of before.survivors) this.survivors.set(k, v);
    for (const [k, v] of before.graphs) {
      this.graphs.set(k, [...v]);
      this.graphSizesAsRead.set(k, v.length);
    }
  }

  private static empty(): PendingWrites {
    return { profiles: [], merges: [], identities: [], fragments: new Map(), activities: [] };
  }

  hasPending(): boolean {
    const p = this.pending;
    return p.profiles.length + p.merges.length + p.identities.length + p.fragments.size + p.activities.length > 0;
  }

  /** The profile that holds what `customerId` held, following this transaction's merges (and those of the one before, when carried). */
  live(instanceId: string, customerId: string): string {
    let id = customerId;
    for (let next = this.survivors.get(profileKeyOf(instanceId, id)); next !== undefined; next = this.survivors.get(profileKeyOf(instanceId, id))) id = next;
    return id;
  }

  /** The profile that holds what `customerId` held once the transaction before has committed (its merges only). */
  liveBefore(instanceId: string, customerId: string): string {
    let id = customerId;
    for (let next = this.before?.survivors.get(profileKeyOf(instanceId, id)); next !== undefined; next = this.before?.survivors.get(profileKeyOf(instanceId, id))) id = next;
    return id;
  }

  /** Whether the transaction before wrote this profile (so that what is stored of it may not be what it will be). */
  private touchedBefore(instanceId: string, customerId: string): boolean {
    const k = profileKeyOf(instanceId, customerId);
    return this.before !== undefined && (this.before.touched.has(k) || this.before.survivors.has(k));
  }

  /** A profile the transaction before wrote but whose identities it did not hold: read them only once it has committed. */
  graphUnknownBefore(instanceId: string, customerId: string): boolean {
    return this.touchedBefore(instanceId, customerId) && !this.before!.graphs.has(profileKeyOf(instanceId, customerId));
  }

  /** What to write, the rows naming the profiles that hold them now (they are written after the merges). */
  takePending(): PendingWrites {
    const p = this.pending;
    this.pending = GroupState.empty();
    if (this.survivors.size === 0) return p;
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
    this.opaque = true;
  }

  /** A write this state does not follow (a delete, a refresh): the next transaction reads only after the commit. */
  markOpaque(): void {
    this.opaque = true;
  }

  created(instanceId: string, customerId: string): void {
    const k = profileKeyOf(instanceId, customerId);
    this.graphs.set(k, []);
    if (!this.handsOn) return;
    this.createdHere.add(k);
    this.written.touched.add(k);
  }

  /** Whether this transaction created the profile (it is not stored until the transaction writes). Kept only with `handsOn`: it is asked only before a gate, which only an overlapping writer's transactions have. */
  createdByThis(instanceId: string, customerId: string): boolean {
    return this.createdHere.has(profileKeyOf(instanceId, customerId));
  }

  linked(instanceId: string, namespace: string, value: string, customerId: string, at: number): void {
    const k = identityKeyOf(instanceId, namespace, value);
    this.owners.set(k, customerId);
    const profile = profileKeyOf(instanceId, customerId);
    this.graphs.get(profile)?.push({ namespace, value, firstSeen: at });
    if (!this.handsOn) return;
    this.written.owners.set(k, customerId);
    this.written.touched.add(profile);
  }

  wroteFragment(key: string, state: RowState): void {
    this.fragments.set(key, state);
    if (this.handsOn) this.written.fragments.set(key, state);
  }

  wroteActivity(key: string, state: RowState): void {
    this.activities.set(key, state);
    if (this.handsOn) this.written.activities.set(key, state);
  }

  /** Everything of `absorbedId` now belongs to `survivorId` (what was read follows through `live`). */
  merged(instanceId: string, m: MergeRow): void {
    const { survivorId, absorbedId } = m;
    this.pending.merges.push({ ...m, instanceId });
    const survivor = profileKeyOf(instanceId, survivorId);
    const absorbed = profileKeyOf(instanceId, absorbedId);
    this.survivors.set(absorbed, survivorId);
    if (this.handsOn) {
      this.written.survivors.set(absorbed, survivorId);
      this.written.touched.add(survivor);
      this.written.touched.add(absorbed);
    }
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
    this.opaque = true;
  }

  /** What this transaction wrote, for the next one to start from while this one commits; undefined when it cannot be handed on. */
  carry(): Carried | undefined {
    if (this.opaque || !this.handsOn) return undefined;
    const graphs = new Map<string, GraphEntry[]>();
    for (const k of this.written.touched) {
      const g = this.graphs.get(k);
      if (g !== undefined) graphs.set(k, g);
    }
    return {
      owners: this.written.owners,
      fragments: this.written.fragments,
      activities: this.written.activities,
      survivors: this.written.survivors,
      graphs,
      touched: this.written.touched,
    };
  }
}
