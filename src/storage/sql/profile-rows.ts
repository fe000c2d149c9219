import type { JsonObject } from '../../domain/json-path.js';
import type { ActivityRow, FailedRecord, IdentityWarning, MergeRow, OverrideRow, StoredFragment, TimelineQuery } from '../../ports/profile-store.js';
import type { SqlValue } from './sql-client.js';

/** Row shapes of profile state and their mapping to the ports' types, shared by every backend. */

/** The columns of a fragment as the refresh scans it (quoted aliases: PostgreSQL folds unquoted ones). */
export const FRAGMENT_SCAN_COLUMNS = 'dataset_id AS "datasetId", record_key AS "recordKey", customer_id AS "customerId", ts AS "timestamp", record AS "recordJson", dedup_loser AS "dedupLoser"';

export interface ActivityDbRow {
  activity_id: string;
  dataset_id: string;
  customer_id: string;
  ts: number;
  type: string | null;
  hash: string;
  received_at: number;
  valid_until: number | null;
  record: string;
}

export const toActivity = (r: ActivityDbRow): ActivityRow => ({
  activityId: r.activity_id,
  datasetId: r.dataset_id,
  customerId: r.customer_id,
  timestamp: r.ts,
  type: r.type,
  hash: r.hash,
  receivedAt: r.received_at,
  validUntil: r.valid_until,
  record: JSON.parse(r.record) as JsonObject,
});

export interface FragmentDbRow {
  dataset_id: string;
  record_key: string;
  customer_id: string;
  ts: number;
  received_at: number;
  record: string;
}

export const toFragment = (r: FragmentDbRow): StoredFragment => ({
  datasetId: r.dataset_id,
  recordKey: r.record_key,
  customerId: r.customer_id,
  timestamp: r.ts,
  receivedAt: r.received_at,
  record: JSON.parse(r.record) as JsonObject,
});

export interface OverrideDbRow {
  path: string;
  value: string;
  set_at: number;
  valid_until: number;
  caller: string | null;
  request_id: string;
}

export const toOverride = (o: OverrideDbRow): OverrideRow => ({ path: o.path, valueJson: o.value, setAt: o.set_at, validUntil: o.valid_until, caller: o.caller, requestId: o.request_id });

export interface MergeDbRow {
  id: string;
  survivor_id: string;
  absorbed_id: string;
  dataset_id: string | null;
  record_key: string | null;
  at: number;
}

export const toMerge = (r: MergeDbRow): MergeRow => ({ id: r.id, survivorId: r.survivor_id, absorbedId: r.absorbed_id, datasetId: r.dataset_id, recordKey: r.record_key, at: r.at });

export interface WarningDbRow {
  id: string;
  kind: IdentityWarning['kind'];
  namespace: string;
  ident_values: string;
  customer_ids: string;
  dataset_id: string | null;
  record_key: string | null;
  at: number;
}

export const toWarning = (r: WarningDbRow): IdentityWarning => ({
  id: r.id,
  kind: r.kind,
  namespace: r.namespace,
  values: JSON.parse(r.ident_values) as string[],
  customerIds: JSON.parse(r.customer_ids) as string[],
  datasetId: r.dataset_id,
  recordKey: r.record_key,
  at: r.at,
});

export interface FailedDbRow {
  id: string;
  dataset_id: string;
  request_id: string;
  received_at: number;
  record: string;
  errors: string;
}

export const toFailed = (r: FailedDbRow): FailedRecord => ({
  id: r.id,
  datasetId: r.dataset_id,
  requestId: r.request_id,
  receivedAt: r.received_at,
  record: JSON.parse(r.record) as unknown,
  errors: JSON.parse(r.errors) as FailedRecord['errors'],
});

export function parseObject(json: string | undefined | null): JsonObject | null {
  return json === undefined || json === null ? null : (JSON.parse(json) as JsonObject);
}

/** A timeline query's SQL and parameters (unexpired activities, filters, keyset paging). */
export function timelineSql(instanceId: string, customerId: string, q: TimelineQuery): { sql: string; params: SqlValue[] } {
  const where = ['instance_id = ?', 'customer_id = ?', '(valid_until IS NULL OR valid_until > ?)'];
  const params: SqlValue[] = [instanceId, customerId, q.now];
  if (q.from !== undefined) {
    where.push('ts >= ?');
    params.push(q.from);
  }
  if (q.to !== undefined) {
    where.push('ts < ?');
    params.push(q.to);
  }
  if (q.types && q.types.length > 0) {
    where.push(`type IN (${q.types.map(() => '?').join(', ')})`);
    params.push(...q.types);
  }
  const desc = q.order === 'desc';
  if (q.before) {
    where.push(desc ? '(ts < ? OR (ts = ? AND activity_id < ?))' : '(ts > ? OR (ts = ? AND activity_id > ?))');
    params.push(q.before.timestamp, q.before.timestamp, q.before.activityId);
  }
  const dir = desc ? 'DESC' : 'ASC';
  params.push(q.limit);
  return { sql: `SELECT * FROM activities WHERE ${where.join(' AND ')} ORDER BY ts ${dir}, activity_id ${dir} LIMIT ?`, params };
}
