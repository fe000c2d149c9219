import type { Identity } from '../domain/identity/extract.js';
import type { LakeEntry, LakeLine, LakePosition } from '../ports/lake.js';
import type { FailedRecord } from '../ports/profile-store.js';

/** Queue and pipeline message formats live here, in one place. */

export type IngestionPath = LakeEntry['path'];

export interface Receipt {
  requestId: string;
  receivedAt: number;
  path: IngestionPath;
  caller: string | null;
}

/** A record that passed validation and is ready to be made durable and applied. */
export interface PreparedRecord {
  /** `override`: real-time field values (recordJson is `{path: value}`) for `target`. `delete`: removes the source record `recordKey`. */
  kind: 'profile' | 'activity' | 'override' | 'delete';
  instanceId: string;
  datasetId: string;
  recordId: string;
  /** The record exactly as received (what the lake keeps), as JSON text. */
  rawJson: string;
  /** The record in API form (xdm: prefixes removed), as validated, as JSON text (the same string when no prefix was removed). */
  recordJson: string;
  identities: Identity[];
  /** Profile records: the fragment key within the dataset. Activities: the activity id. */
  recordKey: string;
  timestamp: number;
  activityType: string | null;
  /** Real-time changes expire (overrides, activities); records from datasets do not (null). */
  validUntil: number | null;
  /** Real-time changes name their profile instead of linking identities: it is never created. */
  target?: string;
  receipt: Receipt;
}

/** `queued`: in the ingestion log (scale-out mode); a worker applies it. `skipped`: a log message applied before (redelivered), not applied again. */
export type ApplyStatus = 'applied' | 'unchanged' | 'duplicate' | 'conflict' | 'failed' | 'not_found' | 'queued' | 'skipped';

export interface ApplyOutcome {
  status: ApplyStatus;
  customerId: string | null;
  /** Profiles absorbed by a merge this record caused. */
  merged: string[];
  /** Identity warnings this record caused (refused links, graph-limit drops). */
  warnings?: number;
}

/** One unit handed to the committer: what to make durable and apply, and what failed validation. */
export interface CommitWork {
  instanceId: string;
  records: PreparedRecord[];
  failed: FailedRecord[];
  /** Set when the records are already in the lake (replay): where each one is. */
  lakePositions?: LakePosition[];
  /** Set when the work comes from the ingestion log: the consumer and the message's sequence (applied at most once). */
  logPosition?: { consumer: string; seq: number };
  /** The instance catalog's version the records were prepared under: a worker whose copy is older loads it again. */
  catalogVersion?: number;
  /** Set by a batch import: the rows of its files read through the last of these records, stored in the same transaction (a batch resumed after a crash does not apply them again). */
  batchRows?: { batchId: string; through: number };
}

/** The lake entry of a record (its optional fields set only when present; a spread of each costs more on the writer's hot path). */
export function toLakeLine(r: PreparedRecord): LakeLine {
  const line: LakeLine = {
    instanceId: r.instanceId,
    datasetId: r.datasetId,
    recordId: r.recordId,
    receivedAt: r.receipt.receivedAt,
    path: r.receipt.path,
    requestId: r.receipt.requestId,
    caller: r.receipt.caller,
    recordJson: r.rawJson,
  };
  if (r.validUntil !== null) line.validUntil = r.validUntil;
  if (r.target !== undefined) line.target = r.target;
  if (r.kind === 'override') line.operation = 'patch';
  else if (r.kind === 'delete') line.operation = 'delete';
  return line;
}

/** The deletion of a source record: kept in the lake like any change, so replay and rebuild repeat it. */
export const deleteRecord = (i: { instanceId: string; datasetId: string; recordId: string; recordKey: string; receipt: Receipt }): PreparedRecord => ({
  kind: 'delete',
  instanceId: i.instanceId,
  datasetId: i.datasetId,
  recordId: i.recordId,
  rawJson: JSON.stringify({ recordKey: i.recordKey }),
  recordJson: JSON.stringify({ recordKey: i.recordKey }),
  identities: [],
  recordKey: i.recordKey,
  timestamp: i.receipt.receivedAt,
  activityType: null,
  validUntil: null,
  receipt: i.receipt,
});
