import { createHash } from 'node:crypto';
import type { ProfileTx } from '../../ports/profile-store.js';
import type { ApplyStatus, PreparedRecord } from '../records.js';

const hashOf = (json: string): string => createHash('sha1').update(json).digest('base64url');

/** Profile records add or replace the person's fragment for their dataset. */
export async function upsertFragment(tx: ProfileTx, r: PreparedRecord, customerId: string): Promise<ApplyStatus> {
  const json = r.recordJson;
  const changed = await tx.upsertFragment(r.instanceId, {
    datasetId: r.datasetId,
    recordKey: r.recordKey,
    customerId,
    timestamp: r.timestamp,
    receivedAt: r.receipt.receivedAt,
    json,
    hash: hashOf(json),
  });
  return changed ? 'applied' : 'unchanged';
}

/** Activities are immutable: the same id again is a duplicate; with another body, a conflict. */
export async function insertActivity(tx: ProfileTx, r: PreparedRecord, customerId: string): Promise<ApplyStatus> {
  const json = r.recordJson;
  const hash = hashOf(json);
  const inserted = await tx.insertActivity(r.instanceId, {
    activityId: r.recordKey,
    datasetId: r.datasetId,
    customerId,
    timestamp: r.timestamp,
    type: r.activityType,
    json,
    hash,
    receivedAt: r.receipt.receivedAt,
    validUntil: r.validUntil,
  });
  if (inserted) return 'applied';
  // Segment-style tracking dedupes on messageId alone (a retry's corrected timestamp may differ).
  if (r.receipt.path === 'tracking') return 'duplicate';
  const existing = await tx.existingActivity(r.instanceId, r.recordKey);
  return existing?.hash === hash ? 'duplicate' : 'conflict';
}
