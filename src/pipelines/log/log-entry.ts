import { identityKey } from '../../domain/identity/extract.js';
import { partitionOf } from '../../domain/partition.js';
import type { FailedRecord } from '../../ports/profile-store.js';
import type { CommitWork, PreparedRecord } from '../records.js';

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
    out.push({ partition: e.partition, payload: JSON.stringify(e.entry), records: e.entry.records.length + e.entry.failed.length });
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
      const wire = onWire(r);
      add(partitionOf(partitionKey(r), partitions), w.instanceId, r.rawJson.length + (wire === r ? r.recordJson.length : 0) + 512, (e) => (e.records.push(wire as PreparedRecord), stamp(e)));
    }
    const first = w.records[0];
    const failedPartition = first ? partitionOf(partitionKey(first), partitions) : partitionOf(w.failed[0]?.requestId ?? '', partitions);
    for (const f of w.failed) add(failedPartition, w.instanceId, JSON.stringify(f.record).length + 512, (e) => (e.failed.push(f), stamp(e)));
  }
  for (const key of [...open.keys()]) flush(key);
  return out;
}

/** A record on the log without its API form; every field named (a field added to PreparedRecord and not here fails to compile). */
type WireRecord = { [K in keyof Required<Omit<PreparedRecord, 'recordJson'>>]: PreparedRecord[K] };

/**
 * A record as it travels: the API form (`recordJson`) is left out when it is the record as
 * received (`rawJson`), as it mostly is, so that the record's text is encoded and decoded once.
 * Written as one literal (an object-rest copy costs a microsecond or so more a record, and the
 * API node makes one for each).
 */
function onWire(r: PreparedRecord): PreparedRecord | WireRecord {
  if (r.recordJson !== r.rawJson) return r;
  return {
    kind: r.kind,
    instanceId: r.instanceId,
    datasetId: r.datasetId,
    recordId: r.recordId,
    rawJson: r.rawJson,
    identities: r.identities,
    recordKey: r.recordKey,
    timestamp: r.timestamp,
    activityType: r.activityType,
    validUntil: r.validUntil,
    // Undefined is left out of the JSON.
    target: r.target,
    receipt: r.receipt,
  };
}

export function decodeLogEntry(payload: string): LogEntry {
  const entry = JSON.parse(payload) as LogEntry;
  for (const r of entry.records as Array<PreparedRecord | WireRecord>) if (!('recordJson' in r)) (r as PreparedRecord).recordJson = r.rawJson;
  return entry;
}
