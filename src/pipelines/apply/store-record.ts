import { digest } from '../../domain/digest.js';
import { extractIdentities, identityKey, type Identity } from '../../domain/identity/extract.js';
import type { JsonObject } from '../../domain/json-path.js';
import type { NewActivity, ProfileTx } from '../../ports/profile-store.js';
import type { InstanceCatalog } from '../ingest/catalog.js';
import type { ApplyOutcome, ApplyStatus, PreparedRecord } from '../records.js';

const hashOf = (json: string): string => digest('sha1', json, 'base64url');

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

/** The activity an activity record becomes on a profile (one literal: the writer makes one per activity). */
export const activityOf = (r: PreparedRecord, customerId: string, json: string, hash: string): NewActivity => ({
  activityId: r.recordKey,
  datasetId: r.datasetId,
  customerId,
  timestamp: r.timestamp,
  type: r.activityType,
  receivedAt: r.receipt.receivedAt,
  validUntil: r.validUntil,
  json,
  hash,
});

/** Activities are immutable: the same id again is a duplicate; with another body, a conflict. */
export async function insertActivity(tx: ProfileTx, r: PreparedRecord, customerId: string): Promise<ApplyStatus> {
  const json = r.recordJson;
  const hash = hashOf(json);
  const inserted = await tx.insertActivity(r.instanceId, activityOf(r, customerId, json, hash));
  if (inserted) return 'applied';
  // Segment-style tracking dedupes on messageId alone (a retry's corrected timestamp may differ).
  if (r.receipt.path === 'tracking') return 'duplicate';
  const existing = await tx.existingActivity(r.instanceId, r.recordKey);
  return existing?.hash === hash ? 'duplicate' : 'conflict';
}

/**
 * Deletes a source record: its fragment, the identities only it carried in its profile, and the
 * profile itself when nothing (no other record, no activity) is left of it.
 */
export async function deleteSourceRecord(tx: ProfileTx, catalog: InstanceCatalog, r: PreparedRecord): Promise<ApplyOutcome> {
  const deleted = await tx.deleteFragment(r.instanceId, r.datasetId, r.recordKey);
  if (!deleted) return { status: 'not_found', customerId: null, merged: [] };
  const identitiesOf = (datasetId: string, json: string): Identity[] => {
    const dataset = catalog.datasetsById.get(datasetId);
    if (!dataset) return [];
    return extractIdentities(JSON.parse(json) as JsonObject, catalog.schemaOf(dataset), catalog.namespaces, catalog.blocked, { defaultPhoneRegion: catalog.settings.defaultPhoneRegion }).identities;
  };
  const kept = new Set((await tx.customerFragments(r.instanceId, deleted.customerId)).flatMap((f) => identitiesOf(f.datasetId, f.recordJson).map(identityKey)));
  const candidates = identitiesOf(r.datasetId, deleted.recordJson).filter((i) => !kept.has(identityKey(i)));
  const owners = await tx.identityOwners(r.instanceId, candidates);
  await tx.dropIdentities(r.instanceId, candidates.filter((i) => owners.get(identityKey(i)) === deleted.customerId));
  const gone = await tx.dropProfileIfEmpty(r.instanceId, deleted.customerId);
  return { status: 'applied', customerId: gone ? null : deleted.customerId, merged: [] };
}
