import { identityKey } from '../../domain/identity/extract.js';
import { partitionOf } from '../../domain/partition.js';
import type { FailedRecord } from '../../ports/profile-store.js';
import type { CommitWork, PreparedRecord, Receipt } from '../records.js';

/**
 * What travels on the ingestion log: records of one instance, and records that failed validation
 * (kept in the failed-records store by the worker). `lakeOnly`: already applied by the API node
 * (real-time changes, batch imports apply synchronously), logged so that the lake writer keeps them.
 */
export interface LogEntry {
  instanceId: string;
  records: PreparedRecord[];
  failed: FailedRecord[];
  lakeOnly?: boolean;
  /** The catalog version the records were prepared under (the highest of the works it holds). */
  catalogVersion?: number;
}

/** The key that picks a record's partition: its primary identity (the profile it names, for real-time changes), so one person's records stay in one partition in order. */
export function partitionKey(r: PreparedRecord): string {
  if (r.target !== undefined) return `${r.instanceId}|customer:${r.target}`;
  const primary = r.identities.find((i) => i.primary) ?? r.identities[0];
  return primary ? `${r.instanceId}|${identityKey(primary)}` : `${r.instanceId}|record:${r.datasetId}:${r.recordKey}`;
}

/** Most payload bytes in one log message (NATS refuses messages over its max_payload, 1 MB by default). */
const MAX_MESSAGE_CHARS = 512 * 1024;

/**
 * Splits works into log entries by partition, in order within each partition, each entry small
 * enough for one message (with the number of records it carries). Failed records go with the
 * request's first partition.
 */
export function toLogEntries(works: readonly CommitWork[], partitions: number, lakeOnly: boolean): Array<{ partition: number; payload: string; records: number }> {
  const open = new Map<string, { partition: number; entry: LogEntry; chars: number }>();
  const out: Array<{ partition: number; payload: string; records: number }> = [];
  const flush = (key: string): void => {
    const e = open.get(key);
    if (!e) return;
    open.delete(key);
    out.push({ partition: e.partition, payload: encodeLogEntry(e.entry), records: e.entry.records.length + e.entry.failed.length });
  };
  const add = (partition: number, instanceId: string, chars: number, put: (e: LogEntry) => void): void => {
    const key = `${partition}|${instanceId}`;
    let e = open.get(key);
    if (e && e.chars + chars > MAX_MESSAGE_CHARS) {
      flush(key);
      e = undefined;
    }
    if (!e) {
      e = { partition, entry: { instanceId, records: [], failed: [], ...(lakeOnly ? { lakeOnly: true } : {}) }, chars: 0 };
      open.set(key, e);
    }
    e.chars += chars;
    put(e.entry);
  };
  for (const w of works) {
    const stamp = (e: LogEntry): void => {
      if (w.catalogVersion !== undefined) e.catalogVersion = Math.max(e.catalogVersion ?? 0, w.catalogVersion);
    };
    for (const r of w.records) {
      add(partitionOf(partitionKey(r), partitions), w.instanceId, r.rawJson.length + (r.recordJson === r.rawJson ? 0 : r.recordJson.length) + 512, (e) => (e.records.push(r), stamp(e)));
    }
    const first = w.records[0];
    const failedPartition = first ? partitionOf(partitionKey(first), partitions) : partitionOf(w.failed[0]?.requestId ?? '', partitions);
    for (const f of w.failed) add(failedPartition, w.instanceId, JSON.stringify(f.record).length + 512, (e) => (e.failed.push(f), stamp(e)));
  }
  for (const key of [...open.keys()]) flush(key);
  return out;
}

/** A record's fields in a log message's head of the first form ('\u0001'): its texts go after the head (`n` characters of its record as received, then `m` of its API form where that differs), its receipt by index. Still read: messages of that form may be in a stream. */
type HeadRecord = { [K in keyof Required<Omit<PreparedRecord, 'rawJson' | 'recordJson' | 'receipt'>>]: PreparedRecord[K] } & { n: number; m?: number; r: number };

interface Head {
  instanceId: string;
  lakeOnly?: boolean;
  catalogVersion?: number;
  failed: FailedRecord[];
  receipts: Receipt[];
  records: HeadRecord[];
}

/** The fields of a prepared record that a row and its texts carry. */
type Carried = 'kind' | 'instanceId' | 'datasetId' | 'recordId' | 'identities' | 'recordKey' | 'timestamp' | 'activityType' | 'validUntil' | 'target' | 'rawJson' | 'recordJson' | 'receipt';

/**
 * A record in a head of the compact form ('\u0002'), by position. Strings that repeat (kind,
 * instance, dataset, namespaces, activity type) are indexes into the head's `strings`;
 * `recordKey` is null where it is the first identity's key (a profile record's); `activityType`
 * is -1 for none and `m` -1 where the API form is the record as received; `r` is the receipt's
 * index. A field added to PreparedRecord and not `Carried` makes this `never`: the encoder and
 * decoder no longer compile until the field has its place.
 */
type Row = [Exclude<keyof PreparedRecord, Carried>] extends [never]
  ? [kind: number, instance: number, dataset: number, recordId: string, identities: Array<[namespace: number, value: string, primary: 0 | 1]>, recordKey: string | null, timestamp: number, activityType: number, validUntil: number | null, target: string | null, n: number, m: number, r: number]
  : never;

interface CompactHead {
  instanceId: string;
  lakeOnly?: boolean;
  catalogVersion?: number;
  failed: FailedRecord[];
  receipts: Receipt[];
  strings: string[];
  records: Row[];
}

/** The first character of a message in the head-and-texts form: the first form, then the compact one (an older message is a JSON object). */
const HEAD_AND_TEXTS = '\u0001';
const COMPACT_HEAD_AND_TEXTS = '\u0002';
/**
 * Surrogates: characters outside the BMP, or a lone one, which would not survive the message's
 * UTF-8. An entry with any goes as one JSON object, its texts escaped (rare: it only costs more).
 */
const SURROGATE = /[\ud800-\udfff]/;

/**
 * A log entry as a message: a head of JSON (everything but the records' texts; each request's
 * receipt once) on the first line, then the records' texts one after another, as they are. The
 * texts are neither escaped into the JSON nor parsed out of it again (a sizeable part of a
 * message's CPU on the API node and the worker), and with each receipt once the message is
 * shorter for NATS too. The head gives each record as an array, its repeated strings once: a
 * head of objects was two thirds of a message's characters (~400 a record of the benchmark's,
 * against ~130), and parsing it, which the worker does twice (to apply, and for the lake), took
 * ~2.4 µs a record against ~0.7.
 */
export function encodeLogEntry(entry: LogEntry): string {
  const receipts: Receipt[] = [];
  const receiptIndex = new Map<Receipt, number>();
  const strings: string[] = [];
  const stringIndex = new Map<string, number>();
  const indexOf = (text: string): number => {
    let i = stringIndex.get(text);
    if (i === undefined) stringIndex.set(text, (i = strings.push(text) - 1));
    return i;
  };
  const texts: string[] = [];
  const records: Row[] = [];
  for (const r of entry.records) {
    const apiForm = r.recordJson === r.rawJson ? undefined : r.recordJson;
    if (SURROGATE.test(r.rawJson) || (apiForm !== undefined && SURROGATE.test(apiForm))) return JSON.stringify(entry);
    let receipt = receiptIndex.get(r.receipt);
    if (receipt === undefined) receiptIndex.set(r.receipt, (receipt = receipts.push(r.receipt) - 1));
    texts.push(r.rawJson);
    if (apiForm !== undefined) texts.push(apiForm);
    const first = r.identities[0];
    records.push([
      indexOf(r.kind),
      indexOf(r.instanceId),
      indexOf(r.datasetId),
      r.recordId,
      r.identities.map((i) => [indexOf(i.namespace), i.value, i.primary ? 1 : 0]),
      first !== undefined && r.recordKey === identityKey(first) ? null : r.recordKey,
      r.timestamp,
      r.activityType === null ? -1 : indexOf(r.activityType),
      r.validUntil,
      r.target ?? null,
      r.rawJson.length,
      apiForm === undefined ? -1 : apiForm.length,
      receipt,
    ]);
  }
  const head: CompactHead = { instanceId: entry.instanceId, failed: entry.failed, receipts, strings, records };
  if (entry.lakeOnly) head.lakeOnly = true;
  if (entry.catalogVersion !== undefined) head.catalogVersion = entry.catalogVersion;
  return `${COMPACT_HEAD_AND_TEXTS}${JSON.stringify(head)}\n${texts.join('')}`;
}

/** The texts after a head did not come out even. */
function checkTextsEnd(payload: string, at: number): void {
  const extra = payload.length - at;
  if (extra !== 0) throw new Error(`a log message's texts are ${Math.abs(extra)} characters ${extra > 0 ? 'longer' : 'shorter'} than its head says`);
}

const entryOf = (head: { instanceId: string; failed: FailedRecord[]; lakeOnly?: boolean; catalogVersion?: number }, records: PreparedRecord[]): LogEntry => ({
  instanceId: head.instanceId,
  records,
  failed: head.failed,
  ...(head.lakeOnly ? { lakeOnly: true } : {}),
  ...(head.catalogVersion === undefined ? {} : { catalogVersion: head.catalogVersion }),
});

function decodeCompact(payload: string): LogEntry {
  const newline = payload.indexOf('\n');
  const head = JSON.parse(payload.slice(COMPACT_HEAD_AND_TEXTS.length, newline)) as CompactHead;
  const { strings, receipts } = head;
  let at = newline + 1;
  const records = head.records.map(([kind, instance, dataset, recordId, ids, recordKey, timestamp, activityType, validUntil, target, n, m, receipt]): PreparedRecord => {
    const rawJson = payload.slice(at, (at += n));
    const recordJson = m === -1 ? rawJson : payload.slice(at, (at += m));
    const identities = ids.map(([namespace, value, primary]) => ({ namespace: strings[namespace]!, value, primary: primary === 1 }));
    const r: PreparedRecord = {
      kind: strings[kind] as PreparedRecord['kind'],
      instanceId: strings[instance]!,
      datasetId: strings[dataset]!,
      recordId,
      rawJson,
      recordJson,
      identities,
      recordKey: recordKey ?? identityKey(identities[0]!),
      timestamp,
      activityType: activityType === -1 ? null : strings[activityType]!,
      validUntil,
      receipt: receipts[receipt]!,
    };
    if (target !== null) r.target = target;
    return r;
  });
  checkTextsEnd(payload, at);
  return entryOf(head, records);
}

export function decodeLogEntry(payload: string): LogEntry {
  if (payload.startsWith(COMPACT_HEAD_AND_TEXTS)) return decodeCompact(payload);
  if (!payload.startsWith(HEAD_AND_TEXTS)) {
    // One JSON object (an older message, or one with a lone surrogate); a record without its API form has it as received.
    const entry = JSON.parse(payload) as LogEntry;
    for (const r of entry.records as Array<Omit<PreparedRecord, 'recordJson'> & { recordJson?: string }>) r.recordJson ??= r.rawJson;
    return entry;
  }
  const newline = payload.indexOf('\n');
  const head = JSON.parse(payload.slice(HEAD_AND_TEXTS.length, newline)) as Head;
  let at = newline + 1;
  const records = head.records.map((h): PreparedRecord => {
    const rawJson = payload.slice(at, (at += h.n));
    const recordJson = h.m === undefined ? rawJson : payload.slice(at, (at += h.m));
    const r: PreparedRecord = {
      kind: h.kind,
      instanceId: h.instanceId,
      datasetId: h.datasetId,
      recordId: h.recordId,
      rawJson,
      recordJson,
      identities: h.identities,
      recordKey: h.recordKey,
      timestamp: h.timestamp,
      activityType: h.activityType,
      validUntil: h.validUntil,
      receipt: head.receipts[h.r]!,
    };
    if (h.target !== undefined) r.target = h.target;
    return r;
  });
  checkTextsEnd(payload, at);
  return entryOf(head, records);
}
