import type { GraphIdentity } from '../domain/identity/guardrail.js';
import type { Identity } from '../domain/identity/extract.js';
import type { JsonObject } from '../domain/json-path.js';

export type Awaitable<T> = T | Promise<T>;

export interface StoredFragment {
  datasetId: string;
  recordKey: string;
  customerId: string;
  timestamp: number;
  receivedAt: number;
  record: JsonObject;
}

/** A fragment to write: the record already serialized (`json`) with its content hash. */
export interface NewFragment extends Omit<StoredFragment, 'record'> {
  json: string;
  hash: string;
}

export interface ActivityRow {
  activityId: string;
  datasetId: string;
  customerId: string;
  timestamp: number;
  type: string | null;
  record: JsonObject;
  hash: string;
  receivedAt: number;
  validUntil: number | null;
}

export interface NewActivity extends Omit<ActivityRow, 'record'> {
  json: string;
}

export interface OverrideRow {
  path: string;
  valueJson: string;
  setAt: number;
  validUntil: number;
  caller: string | null;
  requestId: string;
}

export interface MergeRow {
  id: string;
  survivorId: string;
  absorbedId: string;
  datasetId: string | null;
  recordKey: string | null;
  at: number;
}

export interface IdentityWarning {
  id: string;
  kind: 'unique_namespace_conflict' | 'graph_limit';
  namespace: string;
  values: string[];
  customerIds: string[];
  datasetId: string | null;
  recordKey: string | null;
  at: number;
}

export interface FailedRecord {
  id: string;
  datasetId: string;
  requestId: string;
  receivedAt: number;
  record: unknown;
  errors: Array<{ path: string; keyword: string; message: string }>;
}

/** A profile as asked for: by customer id, or by an identity (its value normalized). */
export type ProfileRef = { customerId: string } | { namespace: string; value: string };

export interface ProfileBundle {
  customerId: string;
  row: ProfileRow;
  fragments: StoredFragment[];
  overrides: OverrideRow[];
  identities: Array<{ namespace: string; value: string; firstSeen: number }>;
  previousIds: string[];
  /** Attributes the last refresh derived (enrichment), if any. */
  enrichment: JsonObject | null;
}

export interface ProfileRow {
  customerId: string;
  createdAt: number;
  updatedAt: number;
}

/** A fragment as the refresh reads it. */
export interface FragmentScanRow {
  datasetId: string;
  recordKey: string;
  customerId: string;
  timestamp: number;
  recordJson: string;
  /** A duplicate the last refresh did not pick as its dataset's winner. */
  dedupLoser: boolean;
}

/** What a refresh run publishes, in one transaction (readers see all of it or none). */
export interface RefreshPublication {
  runId: string;
  at: number;
  /** New customerIds (clusters that kept none). */
  created: string[];
  /** Previous ids no cluster kept: everything of theirs moves to the survivor, and they keep resolving. */
  absorbed: Array<{ absorbedId: string; survivorId: string }>;
  /** Fragments whose profile or duplicate status changed. */
  fragments: Array<{ datasetId: string; recordKey: string; customerId: string; dedupLoser: boolean }>;
  /** Identities whose profile changed. */
  identities: Array<{ namespace: string; value: string; customerId: string }>;
  /** Every profile's enrichment attributes (replaces the previous run's). */
  enrichments: Array<{ customerId: string; attributesJson: string }>;
}

/** What a group of records will look up, so that a backend can read it ahead in a few statements. */
export interface GroupLookups {
  instanceId: string;
  /** Each record's identities: their owners are read, and the graphs of those a record links to or joins. */
  records: Identity[][];
  fragments: Array<{ datasetId: string; recordKey: string }>;
  activityIds: string[];
}

/** One write transaction over profile state. Every method acts inside it. */
export interface ProfileTx {
  /**
   * Reads ahead what a group of records will look up: a backend where each statement is a network
   * round trip answers the group's lookups from memory afterwards and writes its new rows in bulk.
   * Absent where statements are cheap calls (SQLite): the group's lookups are then not gathered.
   */
  readAhead?(lookups: readonly GroupLookups[]): Awaitable<void>;
  /** Runs `fn` so that its writes are undone on its own if it throws, leaving the rest of the transaction intact. */
  isolated<T>(fn: () => Promise<T>): Promise<T>;
  /** Owners of those identities already in the graph, keyed by `namespace:value`. */
  identityOwners(instanceId: string, identities: readonly Identity[]): Awaitable<Map<string, string>>;
  uniqueValues(instanceId: string, customerId: string, namespaces: readonly string[]): Awaitable<Map<string, Set<string>>>;
  createProfile(instanceId: string, customerId: string, at: number): Awaitable<void>;
  /** Moves everything of `absorbedId` to `survivorId` and keeps `absorbedId` resolving. */
  mergeProfiles(instanceId: string, merge: MergeRow): Awaitable<void>;
  linkIdentities(instanceId: string, customerId: string, identities: readonly Identity[], at: number): Awaitable<void>;
  graphIdentities(instanceId: string, customerId: string): Awaitable<Array<Omit<GraphIdentity, 'priority'>>>;
  /** How many identities a profile's graph holds. */
  graphSize(instanceId: string, customerId: string): Awaitable<number>;
  dropIdentities(instanceId: string, identities: ReadonlyArray<{ namespace: string; value: string }>): Awaitable<void>;
  /** Returns false when an identical fragment is already stored (nothing changed). */
  upsertFragment(instanceId: string, fragment: NewFragment): Awaitable<boolean>;
  existingActivity(instanceId: string, activityId: string): Awaitable<{ hash: string; customerId: string } | undefined>;
  /** Returns false when an activity with that id already exists (nothing written). */
  insertActivity(instanceId: string, activity: NewActivity): Awaitable<boolean>;
  /** The live id of a profile (following merges), or undefined when there is none. */
  resolveCustomer(instanceId: string, customerId: string): Awaitable<string | undefined>;
  upsertOverrides(instanceId: string, customerId: string, overrides: readonly OverrideRow[]): Awaitable<void>;
  /** Deletes every table derived from the lake for an instance, and its lake watermarks (before a rebuild). */
  resetDerived(instanceId: string): Awaitable<void>;
  /** Deletes expired overrides and activities; returns how many of each. */
  sweepExpired(now: number): Awaitable<{ overrides: number; activities: number }>;
  recordWarning(instanceId: string, warning: IdentityWarning): Awaitable<void>;
  recordFailed(instanceId: string, failed: FailedRecord): Awaitable<void>;
  setLakeWatermark(segment: string, offset: number): Awaitable<void>;
  /** A batch's rows (of its files, in order) read through `row` are applied: see `CommitWork.batchRows`. */
  setBatchAppliedThrough(instanceId: string, batchId: string, row: number): Awaitable<void>;
  /** How far these consumers of the ingestion log have applied (0: nothing yet); locks their rows, in the consumers' order, until the transaction ends. */
  logOffsets(consumers: readonly string[]): Awaitable<Map<string, number>>;
  setLogOffsets(offsets: ReadonlyMap<string, number>): Awaitable<void>;
  /** Holds off every other writer of profile state until this transaction ends (a refresh, which rewrites whole clusters). */
  holdOffWriters(): Awaitable<void>;
  /** A page of an instance's fragments in key order, after `after`. */
  scanFragments(instanceId: string, after: { datasetId: string; recordKey: string } | null, limit: number): Awaitable<FragmentScanRow[]>;
  /** Deletes one source record's fragment; what it was (its profile and record), or undefined when there was none. */
  deleteFragment(instanceId: string, datasetId: string, recordKey: string): Awaitable<{ customerId: string; recordJson: string } | undefined>;
  /** The records of a profile's fragments. */
  customerFragments(instanceId: string, customerId: string): Awaitable<Array<{ datasetId: string; recordJson: string }>>;
  /** Deletes a profile left with no fragment and no activity (and its identities, overrides and enrichment); whether it did. */
  dropProfileIfEmpty(instanceId: string, customerId: string): Awaitable<boolean>;
  publishRefresh(instanceId: string, publication: RefreshPublication): Awaitable<void>;
}

export interface TimelineQuery {
  limit: number;
  /** Activities strictly older than this cursor (timestamp, activityId). */
  before?: { timestamp: number; activityId: string };
  types?: string[];
  from?: number;
  to?: number;
  now: number;
  order: 'desc' | 'asc';
}

/** Reads of profile state; never blocked by the writer. */
export interface ProfileReader {
  resolveCustomerId(instanceId: string, customerId: string): Promise<string | undefined>;
  /**
   * Everything a profile read needs, from one consistent snapshot (never half a merge): the
   * profile of a customer id (or the survivor it was merged into), or the one holding an identity.
   */
  profileBundle(instanceId: string, ref: ProfileRef): Promise<ProfileBundle | undefined>;
  profile(instanceId: string, customerId: string): Promise<ProfileRow | undefined>;
  findByIdentity(instanceId: string, namespace: string, value: string): Promise<string | undefined>;
  findByRecordKey(instanceId: string, datasetId: string, recordKey: string): Promise<string | undefined>;
  activity(instanceId: string, activityId: string): Promise<ActivityRow | undefined>;
  identities(instanceId: string, customerId: string): Promise<Array<{ namespace: string; value: string; firstSeen: number }>>;
  previousIds(instanceId: string, customerId: string): Promise<string[]>;
  fragments(instanceId: string, customerId: string): Promise<Array<StoredFragment & { receivedAt: number }>>;
  timeline(instanceId: string, customerId: string, query: TimelineQuery): Promise<ActivityRow[]>;
  merges(instanceId: string, customerId: string): Promise<MergeRow[]>;
  warnings(instanceId: string, limit: number, offset: number): Promise<IdentityWarning[]>;
  failedRecords(instanceId: string, datasetId: string, limit: number, offset: number): Promise<FailedRecord[]>;
  countProfiles(instanceId: string): Promise<number>;
  /** Customer ids in order, after `after`: a page of every profile. */
  listCustomerIds(instanceId: string, after: string, limit: number): Promise<string[]>;
  lakeWatermarks(): Promise<Map<string, number>>;
}

/** The writer of profile state. Only the apply pipeline holds one. */
export interface ProfileWriter {
  /** Runs `fn` in one write transaction; writes are committed together or not at all. */
  transaction<T>(fn: (tx: ProfileTx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/**
 * A write transaction lost a race with another writer (on PostgreSQL, where several workers
 * write at once: a profile it read was merged away meanwhile, an identity it added was added
 * first by another, or a deadlock): nothing of it was kept; run it again.
 */
export class TransactionConflict extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransactionConflict';
  }
}
