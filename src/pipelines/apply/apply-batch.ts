import { isStorageFull } from '../../domain/storage-full.js';
import { TransactionConflict, type FailedRecord, type ProfileTx, type ProfileWriter } from '../../ports/profile-store.js';
import type { LakePosition } from '../../ports/lake.js';
import type { Catalog, InstanceCatalog } from '../ingest/catalog.js';
import type { ApplyOutcome, CommitWork, PreparedRecord } from '../records.js';
import { groupLookups } from './group-lookups.js';
import { resolveIdentities } from './resolve-identities.js';
import { deleteSourceRecord, insertActivity, upsertFragment } from './store-record.js';

export interface ApplyDeps {
  writer: ProfileWriter;
  catalog: Catalog;
}

const failedRecordOf = (r: PreparedRecord, keyword: string, message: string): FailedRecord => ({
  id: r.recordId,
  datasetId: r.datasetId,
  requestId: r.receipt.requestId,
  receivedAt: r.receipt.receivedAt,
  record: JSON.parse(r.rawJson) as unknown,
  errors: [{ path: '/', keyword, message }],
});

/**
 * Real-time changes name their profile (following merges to the survivor) and never create one,
 * link identities or merge: overrides replace field values until they expire; activities join the
 * timeline.
 */
async function applyRealtime(tx: ProfileTx, r: PreparedRecord): Promise<ApplyOutcome> {
  const customerId = await tx.resolveCustomer(r.instanceId, r.target!);
  if (customerId === undefined) return { status: 'not_found', customerId: null, merged: [] };
  if (r.kind === 'override') {
    const fields = JSON.parse(r.recordJson) as Record<string, unknown>;
    await tx.upsertOverrides(
      r.instanceId,
      customerId,
      Object.entries(fields).map(([path, value]) => ({
        path,
        valueJson: JSON.stringify(value),
        setAt: r.timestamp,
        validUntil: r.validUntil!,
        caller: r.receipt.caller,
        requestId: r.receipt.requestId,
      })),
    );
    return { status: 'applied', customerId, merged: [] };
  }
  return { status: await insertActivity(tx, r, customerId), customerId, merged: [] };
}

const FAILED: ApplyOutcome = { status: 'failed', customerId: null, merged: [] };

/**
 * Applies one record. A real-time change goes to the profile it names (its dataset, Customer or
 * UnifiedActivity, is none of the catalog's); any other record by its dataset: identities, then
 * its fragment or activity.
 */
async function applyRecord(tx: ProfileTx, r: PreparedRecord, catalogFor: (r: PreparedRecord) => Promise<InstanceCatalog | undefined>): Promise<ApplyOutcome> {
  if (r.target !== undefined) return applyRealtime(tx, r);
  const catalog = await catalogFor(r);
  if (!catalog) return FAILED;
  if (r.kind === 'delete') return deleteSourceRecord(tx, catalog, r);
  const dataset = catalog.datasetsById.get(r.datasetId);
  if (!dataset) return FAILED;
  const { customerId, merged, warnings } = await resolveIdentities(tx, catalog, r);
  let status: ApplyOutcome['status'];
  if (r.kind === 'activity') status = await insertActivity(tx, r, customerId);
  else if (dataset.enabledForProfile) status = await upsertFragment(tx, r, customerId);
  else status = 'applied';
  if (status === 'conflict' && r.receipt.path !== 'realtime') {
    // Activities are immutable: a different body under a known id is kept as a failed record, never dropped.
    await tx.recordFailed(r.instanceId, failedRecordOf(r, 'activity_conflict', `activity ${r.recordKey} already exists with a different body; activities are immutable`));
  }
  return { status, customerId, merged, ...(warnings > 0 ? { warnings } : {}) };
}

/**
 * The apply pipeline for a group of works, in one transaction (group commit): records in arrival
 * order, failed records into the failed-records store, then the lake watermark. Views are merged from fragments at read time, so a write never rebuilds one.
 * `durable`: the group's records are being written to the lake; the transaction commits only once
 * they are durable (and fails with the lake's error if they cannot be).
 */
export function createApplyBatchStep(deps: ApplyDeps) {
  return async function applyBatch(works: readonly CommitWork[], positions: ReadonlyArray<LakePosition | undefined>, now: number, durable?: Promise<void>): Promise<ApplyOutcome[][]> {
    let lakeFailed = false;
    const inLake = durable?.catch((err: unknown) => {
      lakeFailed = true;
      throw err;
    });
    inLake?.catch(() => undefined); // heard where the transaction awaits it, or not at all when the group failed before
    const catalogs = new Map<string, InstanceCatalog>();
    // One catalog per instance for the whole group (loaded again only for a dataset it does not know).
    const catalogFor = async (r: PreparedRecord): Promise<InstanceCatalog | undefined> => {
      const cached = catalogs.get(r.instanceId);
      if (cached?.datasetsById.has(r.datasetId)) return cached;
      const c = await deps.catalog.withDataset(r.instanceId, r.datasetId);
      if (c) catalogs.set(r.instanceId, c);
      return c;
    };
    const run = (isolate: boolean): Promise<ApplyOutcome[][]> => deps.writer.transaction(async (tx) => {
      const watermarks = new Map<string, number>();
      // Locked in the consumers' order by the store (every writer takes them so).
      const offsets = await tx.logOffsets([...new Set(works.flatMap((w) => (w.logPosition ? [w.logPosition.consumer] : [])))]);
      if (!isolate && tx.readAhead) {
        const fresh = works.filter((w) => !w.logPosition || w.logPosition.seq > offsets.get(w.logPosition.consumer)!);
        await tx.readAhead(groupLookups(fresh.flatMap((w) => w.records)));
      }
      let index = 0;
      const results: ApplyOutcome[][] = [];
      for (const work of works) {
        const outcomes: ApplyOutcome[] = [];
        if (work.logPosition) {
          // Exactly once from the log: a message at or below the consumer's offset was applied before.
          const { consumer, seq } = work.logPosition;
          if (seq <= offsets.get(consumer)!) {
            index += work.records.length;
            results.push(work.records.map(() => ({ status: 'skipped', customerId: null, merged: [] })));
            continue;
          }
          offsets.set(consumer, seq);
        }
        for (const r of work.records) {
          const position = positions[index++];
          if (position) watermarks.set(position.segment, Math.max(watermarks.get(position.segment) ?? 0, position.end));
          if (!isolate) {
            outcomes.push(await applyRecord(tx, r, catalogFor));
            continue;
          }
          try {
            outcomes.push(await tx.isolated(() => applyRecord(tx, r, catalogFor)));
          } catch (err) {
            if (err instanceof TransactionConflict) throw err; // the whole transaction is run again
            if (isStorageFull(err)) throw err; // no room for any record: the group fails, and its callers hear so
            // One record that cannot be applied never fails the others: it is kept with its error.
            await tx.recordFailed(r.instanceId, failedRecordOf(r, 'apply_error', `the record could not be applied: ${(err as Error).message}`));
            outcomes.push(FAILED);
          }
        }
        for (const f of work.failed) await tx.recordFailed(work.instanceId, f);
        if (work.batchRows) await tx.setBatchAppliedThrough(work.instanceId, work.batchRows.batchId, work.batchRows.through);
        results.push(outcomes);
      }
      for (const [segment, end] of watermarks) await tx.setLakeWatermark(segment, end);
      await tx.setLogOffsets(offsets);
      await inLake;
      return results;
    });
    // Optimistic: the whole group in one go. Only if some record fails is the group redone with
    // each record in a savepoint of its own, so that the failing one is isolated and kept.
    // A lake that could not take the records fails the group: nothing of it may commit.
    return run(false).catch((err: unknown) => {
      if (lakeFailed || err instanceof TransactionConflict || isStorageFull(err)) throw err;
      return run(true);
    });
  };
}
