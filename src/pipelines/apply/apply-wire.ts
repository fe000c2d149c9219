import type { Identity } from '../../domain/identity/extract.js';
import type { ApplyOutcome, ApplyStatus, CommitWork, PreparedRecord, Receipt } from '../records.js';

/**
 * Groups and their outcomes as they cross to the writer thread and back: columns, not objects,
 * when the works are large. A structured clone of 2,000 record objects cost the writer ~4 µs a
 * record to read (every object's keys, every repeated string such as the instance, the dataset
 * and the receipt's); the same records as a few arrays of strings and typed arrays, made into
 * objects again, ~0.9 µs. Strings that repeat (instances, datasets, namespaces, activity types)
 * go once, in a dictionary; equal receipts once; a record's API form only when it differs from
 * the text as received. Works of one or a few records each (single messages, real-time changes)
 * go as they are: there the columns' fixed costs (typed arrays, dictionaries) cost more than they
 * save (measured: 7.9 against 7.2 µs a record for 16 works of one record; 4.1 against 4.6 for
 * one work of 16, 1.9 against 3.6 for one of 64).
 */
export type WireWorks = { packed: PackedWorks } | { plain: CommitWork[] };
export type WireOutcomes = { packed: PackedOutcomes } | { plain: ApplyOutcome[][] };

/** Columns pay from this many records, when the works hold this many records each on average. */
const PACK_FROM_RECORDS = 32;
const PACK_FROM_RECORDS_PER_WORK = 8;
const worthPacking = (lists: ReadonlyArray<{ length: number }>): boolean => {
  let n = 0;
  for (const l of lists) n += l.length;
  return n >= PACK_FROM_RECORDS && n >= PACK_FROM_RECORDS_PER_WORK * lists.length;
};

export const worksToWire = (works: readonly CommitWork[]): WireWorks => (worthPacking(works.map((w) => w.records)) ? { packed: packWorks(works) } : { plain: [...works] });
export const worksFromWire = (w: WireWorks): CommitWork[] => ('packed' in w ? unpackWorks(w.packed) : w.plain);
export const outcomesToWire = (lists: ApplyOutcome[][]): WireOutcomes => (worthPacking(lists) ? { packed: packOutcomes(lists) } : { plain: lists });
export const outcomesFromWire = (w: WireOutcomes): ApplyOutcome[][] => ('packed' in w ? unpackOutcomes(w.packed) : w.plain);

export interface PackedWorks {
  works: Array<Omit<CommitWork, 'records'> & { count: number }>;
  /** The repeated strings, by index. */
  dict: string[];
  kinds: Uint8Array;
  instances: Int32Array;
  datasets: Int32Array;
  recordIds: string[];
  rawJson: string[];
  /** Null where it is the record as received (rawJson). */
  recordJson: Array<string | null>;
  recordKeys: string[];
  timestamps: Float64Array;
  /** -1: none. */
  activityTypes: Int32Array;
  /** NaN: none. */
  validUntil: Float64Array;
  /** Present when some record names its profile (real-time changes). */
  targets?: Array<string | null>;
  receipts: Receipt[];
  receiptOf: Int32Array;
  /** Identities of all records in a row: how many each record has, then their fields. */
  identityCounts: Int32Array;
  identityNamespaces: Int32Array;
  identityValues: string[];
  identityPrimary: Uint8Array;
}

/** Every kind and status by number (a Record, so that the compiler asks for one added to the union). */
const KIND_INDEX: Record<PreparedRecord['kind'], number> = { profile: 0, activity: 1, override: 2, delete: 3 };
const KINDS = namesByIndex(KIND_INDEX);

function namesByIndex<T extends string>(index: Record<T, number>): T[] {
  const names: T[] = [];
  for (const [name, i] of Object.entries(index) as Array<[T, number]>) names[i] = name;
  return names;
}

/** Indexes strings into one dictionary. */
function dictionary(): { dict: string[]; of(s: string): number } {
  const dict: string[] = [];
  const index = new Map<string, number>();
  return {
    dict,
    of(s) {
      let i = index.get(s);
      if (i === undefined) {
        index.set(s, (i = dict.length));
        dict.push(s);
      }
      return i;
    },
  };
}

export function packWorks(works: readonly CommitWork[]): PackedWorks {
  let n = 0;
  let identities = 0;
  for (const w of works) {
    n += w.records.length;
    for (const r of w.records) identities += r.identities.length;
  }
  const d = dictionary();
  const receiptIndex = new Map<Receipt, number>();
  const receiptKeys = new Map<string, number>();
  const p: PackedWorks = {
    works: works.map(({ records, ...rest }) => ({ ...rest, count: records.length })),
    dict: d.dict,
    kinds: new Uint8Array(n),
    instances: new Int32Array(n),
    datasets: new Int32Array(n),
    recordIds: new Array<string>(n),
    rawJson: new Array<string>(n),
    recordJson: new Array<string | null>(n),
    recordKeys: new Array<string>(n),
    timestamps: new Float64Array(n),
    activityTypes: new Int32Array(n),
    validUntil: new Float64Array(n),
    receipts: [],
    receiptOf: new Int32Array(n),
    identityCounts: new Int32Array(n),
    identityNamespaces: new Int32Array(identities),
    identityValues: new Array<string>(identities),
    identityPrimary: new Uint8Array(identities),
  };
  let i = 0;
  let k = 0;
  for (const w of works) {
    for (const r of w.records) {
      p.kinds[i] = KIND_INDEX[r.kind];
      p.instances[i] = d.of(r.instanceId);
      p.datasets[i] = d.of(r.datasetId);
      p.recordIds[i] = r.recordId;
      p.rawJson[i] = r.rawJson;
      p.recordJson[i] = r.recordJson === r.rawJson ? null : r.recordJson;
      p.recordKeys[i] = r.recordKey;
      p.timestamps[i] = r.timestamp;
      p.activityTypes[i] = r.activityType === null ? -1 : d.of(r.activityType);
      p.validUntil[i] = r.validUntil ?? NaN;
      if (r.target !== undefined) (p.targets ??= new Array<string | null>(n).fill(null))[i] = r.target;
      let receipt = receiptIndex.get(r.receipt);
      if (receipt === undefined) {
        const key = `${r.receipt.requestId}\u0000${r.receipt.receivedAt}\u0000${r.receipt.path}\u0000${r.receipt.caller ?? '\u0001'}`;
        receipt = receiptKeys.get(key);
        if (receipt === undefined) {
          receiptKeys.set(key, (receipt = p.receipts.length));
          p.receipts.push(r.receipt);
        }
        receiptIndex.set(r.receipt, receipt);
      }
      p.receiptOf[i] = receipt;
      p.identityCounts[i] = r.identities.length;
      for (const id of r.identities) {
        p.identityNamespaces[k] = d.of(id.namespace);
        p.identityValues[k] = id.value;
        p.identityPrimary[k] = id.primary ? 1 : 0;
        k++;
      }
      i++;
    }
  }
  return p;
}

function unpackWorks(p: PackedWorks): CommitWork[] {
  const { dict } = p;
  let i = 0;
  let k = 0;
  return p.works.map(({ count, ...rest }) => {
    const records = new Array<PreparedRecord>(count);
    for (let j = 0; j < count; j++, i++) {
      const identities = new Array<Identity>(p.identityCounts[i]!);
      for (let m = 0; m < identities.length; m++, k++) identities[m] = { namespace: dict[p.identityNamespaces[k]!]!, value: p.identityValues[k]!, primary: p.identityPrimary[k] === 1 };
      const activityType = p.activityTypes[i]!;
      const validUntil = p.validUntil[i]!;
      const r: PreparedRecord = {
        kind: KINDS[p.kinds[i]!]!,
        instanceId: dict[p.instances[i]!]!,
        datasetId: dict[p.datasets[i]!]!,
        recordId: p.recordIds[i]!,
        rawJson: p.rawJson[i]!,
        recordJson: p.recordJson[i] ?? p.rawJson[i]!,
        identities,
        recordKey: p.recordKeys[i]!,
        timestamp: p.timestamps[i]!,
        activityType: activityType === -1 ? null : dict[activityType]!,
        validUntil: Number.isNaN(validUntil) ? null : validUntil,
        receipt: p.receipts[p.receiptOf[i]!]!,
      };
      const target = p.targets?.[i];
      if (target !== undefined && target !== null) r.target = target;
      records[j] = r;
    }
    return { ...rest, records };
  });
}

/** Outcomes back from the writer: statuses and profile ids as columns; merges and warnings only where there are any. */
export interface PackedOutcomes {
  counts: Int32Array;
  statuses: Uint8Array;
  customerIds: Array<string | null>;
  /** [record index, absorbed ids] for the records that merged profiles. */
  merged: Array<[number, string[]]>;
  /** [record index, warnings] for the records that caused identity warnings. */
  warnings: Array<[number, number]>;
}

const STATUS_INDEX: Record<ApplyStatus, number> = { applied: 0, unchanged: 1, duplicate: 2, conflict: 3, failed: 4, not_found: 5, queued: 6, skipped: 7 };
const STATUSES = namesByIndex(STATUS_INDEX);

function packOutcomes(lists: readonly ApplyOutcome[][]): PackedOutcomes {
  let n = 0;
  for (const l of lists) n += l.length;
  const p: PackedOutcomes = { counts: new Int32Array(lists.map((l) => l.length)), statuses: new Uint8Array(n), customerIds: new Array<string | null>(n), merged: [], warnings: [] };
  let i = 0;
  for (const list of lists) {
    for (const o of list) {
      p.statuses[i] = STATUS_INDEX[o.status];
      p.customerIds[i] = o.customerId;
      if (o.merged.length > 0) p.merged.push([i, o.merged]);
      if (o.warnings !== undefined) p.warnings.push([i, o.warnings]);
      i++;
    }
  }
  return p;
}

function unpackOutcomes(p: PackedOutcomes): ApplyOutcome[][] {
  const merged = new Map(p.merged);
  const warnings = new Map(p.warnings);
  let i = 0;
  return Array.from(p.counts, (count) => {
    const list = new Array<ApplyOutcome>(count);
    for (let j = 0; j < count; j++, i++) {
      const o: ApplyOutcome = { status: STATUSES[p.statuses[i]!]!, customerId: p.customerIds[i]!, merged: merged.get(i) ?? [] };
      const w = warnings.get(i);
      if (w !== undefined) o.warnings = w;
      list[j] = o;
    }
    return list;
  });
}
