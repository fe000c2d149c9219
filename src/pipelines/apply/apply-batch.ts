import type { Clock } from '../../domain/clock.js';
import type { FailedRecord, ProfileStore, ProfileTx } from '../../ports/profile-store.js';
import type { LakePosition } from '../../ports/lake.js';
import type { Catalog, InstanceCatalog } from '../ingest/catalog.js';
import type { ApplyOutcome, CommitWork, PreparedRecord } from '../records.js';
import { resolveIdentities } from './resolve-identities.js';
import { insertActivity, upsertFragment } from './store-record.js';

export interface ApplyDeps {
  store: ProfileStore;
  catalog: Catalog;
  clock: Clock;
}

const failedRecordOf = (r: PreparedRecord, keyword: string, message: string): FailedRecord => ({
  id: r.recordId,
  datasetId: r.datasetId,
  requestId: r.receipt.requestId,
  receivedAt: r.receipt.receivedAt,
  record: r.raw,
  errors: [{ path: '/', keyword, message }],
});

/** Applies one record: identities, then its fragment or activity. */
async function applyRecord(tx: ProfileTx, catalog: InstanceCatalog, r: PreparedRecord, now: number, touched: Set<string>): Promise<ApplyOutcome> {
  const dataset = catalog.datasetsById.get(r.datasetId);
  if (!dataset) return { status: 'failed', customerId: null, merged: [] };
  const { customerId, merged } = await resolveIdentities(tx, catalog, r, now);
  for (const m of merged) touched.delete(m);
  let status: ApplyOutcome['status'];
  if (r.kind === 'activity') status = await insertActivity(tx, r, customerId);
  else if (dataset.enabledForProfile) status = await upsertFragment(tx, r, customerId);
  else status = 'applied';
  if (status === 'conflict' && r.receipt.path !== 'realtime') {
    // Activities are immutable: a different body under a known id is kept as a failed record, never dropped.
    await tx.recordFailed(r.instanceId, failedRecordOf(r, 'activity_conflict', `activity ${r.recordKey} already exists with a different body; activities are immutable`));
  }
  if (status === 'applied' || merged.length > 0) touched.add(customerId);
  return { status, customerId, merged };
}

/**
 * The apply pipeline for a group of works, in one transaction (group commit): records in arrival
 * order, failed records into the failed-records store, the lake watermark, then the profiles'
 * last-updated times. Views are merged from fragments at read time, so a write never rebuilds one.
 */
export function createApplyBatchStep(deps: ApplyDeps) {
  return async function applyBatch(works: readonly CommitWork[], positions: ReadonlyArray<LakePosition | undefined>): Promise<ApplyOutcome[][]> {
    const catalogs = new Map<string, InstanceCatalog>();
    const catalogOf = async (instanceId: string): Promise<InstanceCatalog | undefined> => {
      if (!catalogs.has(instanceId)) {
        const c = await deps.catalog.get(instanceId);
        if (c) catalogs.set(instanceId, c);
      }
      return catalogs.get(instanceId);
    };
    const run = (isolate: boolean): Promise<ApplyOutcome[][]> => deps.store.transaction(async (tx) => {
      const now = deps.clock.now();
      const touched = new Map<string, Set<string>>();
      const watermarks = new Map<string, number>();
      let index = 0;
      const results: ApplyOutcome[][] = [];
      for (const work of works) {
        const outcomes: ApplyOutcome[] = [];
        for (const r of work.records) {
          const position = positions[index++];
          if (position) watermarks.set(position.segment, Math.max(watermarks.get(position.segment) ?? 0, position.end));
          const catalog = await catalogOf(r.instanceId);
          if (!catalog) {
            outcomes.push({ status: 'failed', customerId: null, merged: [] });
            continue;
          }
          const set = touched.get(r.instanceId) ?? new Set<string>();
          touched.set(r.instanceId, set);
          if (!isolate) {
            outcomes.push(await applyRecord(tx, catalog, r, now, set));
            continue;
          }
          try {
            outcomes.push(await tx.isolated(() => applyRecord(tx, catalog, r, now, set)));
          } catch (err) {
            // One record that cannot be applied never fails the others: it is kept with its error.
            await tx.recordFailed(r.instanceId, failedRecordOf(r, 'apply_error', `the record could not be applied: ${(err as Error).message}`));
            outcomes.push({ status: 'failed', customerId: null, merged: [] });
          }
        }
        for (const f of work.failed) await tx.recordFailed(work.instanceId, f);
        results.push(outcomes);
      }
      for (const [instanceId, ids] of touched) for (const id of ids) await tx.touchProfile(instanceId, id, now);
      for (const [segment, end] of watermarks) await tx.setLakeWatermark(segment, end);
      return results;
    });
    // Optimistic: the whole group in one go. Only if some record fails is the group redone with
    // each record in a savepoint of its own, so that the failing one is isolated and kept.
    return run(false).catch(() => run(true));
  };
}
