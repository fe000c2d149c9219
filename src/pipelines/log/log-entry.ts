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

/** A record's fields in a log message's head: its texts go after the head (`n` characters of its record as received, then `m` of its API form where that differs), its receipt by index. */
type HeadRecord = { [K in keyof Required<Omit<PreparedRecord, 'rawJson' | 'recordJson' | 'receipt'>>]: PreparedRecord[K] } & { n: number; m?: number; r: number };

interface Head {
  instanceId: string;
  lakeOnly?: boolean;
  catalogVersion?: number;
  failed: FailedRecord[];
  receipts: Receipt[];
  records: HeadRecord[];
}

/** The first character of a message in the head-and-texts form (an older message is a JSON object). */
const HEAD_AND_TEXTS = '\u0001';
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
 * shorter for NATS too.
 */
export function encodeLogEntry(entry: LogEntry): string {
  const receipts: Receipt[] = [];
  const receiptIndex = new Map<Receipt, number>();
  const texts: string[] = [];
  const records: HeadRecord[] = [];
  for (const r of entry.records) {
    const apiForm = r.recordJson === r.rawJson ? undefined : r.recordJson;
    if (SURROGATE.test(r.rawJson) || (apiForm !== undefined && SURROGATE.test(apiForm))) return JSON.stringify(entry);
    let index = receiptIndex.get(r.receipt);
    if (index === undefined) receiptIndex.set(r.receipt, (index = receipts.push(r.receipt) - 1));
    texts.push(r.rawJson);
    if (apiForm !== undefined) texts.push(apiForm);
    const h: HeadRecord = {
      kind: r.kind,
      instanceId: r.instanceId,
      datasetId: r.datasetId,
      recordId: r.recordId,
      identities: r.identities,
      recordKey: r.recordKey,
      timestamp: r.timestamp,
      activityType: r.activityType,
      validUntil: r.validUntil,
      // Undefined is left out of the JSON.
      target: r.target,
      n: r.rawJson.length,
      ...(apiForm === undefined ? {} : { m: apiForm.length }),
      r: index,
    };
    records.push(h);
  }
  const head: Head = { instanceId: entry.instanceId, failed: entry.failed, receipts, records };
  if (entry.lakeOnly) head.lakeOnly = true;
  if (entry.catalogVersion !== undefined) head.catalogVersion = entry.catalogVersion;
  return `${HEAD_AND_TEXTS}${JSON.stringify(head)}\n${texts.join('')}`;
}

export function decodeLogEntry(payload: string): LogEntry {
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
  const extra = payload.length - at;
  if (extra !== 0) throw new Error(`a log message's texts are ${Math.abs(extra)} characters ${extra > 0 ? 'longer' : 'shorter'} than its head says`);
  return {
    instanceId: head.instanceId,
    records,
    failed: head.failed,
    ...(head.lakeOnly ? { lakeOnly: true } : {}),
    ...(head.catalogVersion === undefined ? {} : { catalogVersion: head.catalogVersion }),
  };
}
