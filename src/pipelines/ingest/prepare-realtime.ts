import { flattenLeaves, type JsonObject, type JsonValue } from '../../domain/json-path.js';
import { stripXdmPrefixes } from '../../domain/xdm.js';
import type { InstanceCatalog } from './catalog.js';
import { parseTimestamp } from './prepare-record.js';
import type { PreparedRecord, Receipt } from '../records.js';

/** The dataset id under which UnifiedActivity records are kept (in the lake and the timeline). */
export const UNIFIED_ACTIVITY = 'UnifiedActivity';

const NOT_FIELDS: ReadonlySet<string> = new Set(['identityMap']);

/** The fields of a real-time profile update as leaf paths (field groups kept whole). */
export function overrideLeaves(catalog: InstanceCatalog, body: JsonObject): Map<string, JsonValue> {
  return flattenLeaves(stripXdmPrefixes(body) as JsonObject, catalog.profileFieldGroups, NOT_FIELDS);
}

/** A real-time profile update as a record for the writer (and the lake). */
export function overrideRecord(i: { instanceId: string; recordId: string; customerId: string; body: JsonObject; leaves: Map<string, JsonValue>; validUntil: number; receipt: Receipt }): PreparedRecord {
  return {
    kind: 'override',
    instanceId: i.instanceId,
    datasetId: 'Customer',
    recordId: i.recordId,
    rawJson: JSON.stringify(i.body),
    recordJson: JSON.stringify(Object.fromEntries(i.leaves)),
    identities: [],
    recordKey: i.customerId,
    timestamp: i.receipt.receivedAt,
    activityType: null,
    validUntil: i.validUntil,
    target: i.customerId,
    receipt: i.receipt,
  };
}

/** A UnifiedActivity as a record for the writer; null when it has no id or no valid time. */
export function unifiedActivityRecord(i: { instanceId: string; recordId: string; body: JsonObject; validUntil: number; receipt: Receipt }): PreparedRecord | null {
  const time = parseTimestamp(i.body['ActivityTime']);
  const id = i.body['ActivityId'];
  const customerId = i.body['CustomerId'];
  if (time === null || typeof id !== 'string' || typeof customerId !== 'string') return null;
  const json = JSON.stringify(i.body);
  const type = i.body['ActivityType'];
  return {
    kind: 'activity',
    instanceId: i.instanceId,
    datasetId: UNIFIED_ACTIVITY,
    recordId: i.recordId,
    rawJson: json,
    recordJson: json,
    identities: [],
    recordKey: id,
    timestamp: time,
    activityType: typeof type === 'string' ? type : null,
    validUntil: i.validUntil,
    target: customerId,
    receipt: i.receipt,
  };
}
