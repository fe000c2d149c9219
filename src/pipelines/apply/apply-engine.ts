import { newId } from '../../domain/ids.js';
import type { UnificationConfig } from '../../domain/unify/config.js';
import type { ControlStore } from '../../ports/control-store.js';
import type { Lake } from '../../ports/lake.js';
import type { ProfileReader, ProfileWriter } from '../../ports/profile-store.js';
import type { Catalog } from '../ingest/catalog.js';
import type { ApplyOutcome, CommitWork } from '../records.js';
import { runRefresh, type RefreshResult } from '../refresh/run-refresh.js';
import { createApplyBatchStep } from './apply-batch.js';
import { createCommitBatchStep } from './commit-batch.js';
import { compactLake, retentionOf } from './compact-lake.js';

/** Everything the one writer of profile state does: group commits and upkeep tasks. */
export interface ApplyEngine {
  commitBatch(works: readonly CommitWork[], now: number): Promise<ApplyOutcome[][]>;
  sweep(now: number): Promise<{ overrides: number; activities: number }>;
  resetDerived(instanceId: string): Promise<void>;
  compactLake(today: string): Promise<number>;
  refresh(instanceId: string, runId: string, config: UnificationConfig, now: number, onStage: (stage: string) => void): Promise<RefreshResult>;
}

/** The engine over a writer, a reader (for lake watermarks), the lake and the catalog. */
export function createApplyEngine(deps: { writer: ProfileWriter; reader: ProfileReader; lake: Lake; control: ControlStore; catalog: Catalog }): ApplyEngine {
  const { writer, reader, lake, control, catalog } = deps;
  const commitBatch = createCommitBatchStep({ lake, applyBatch: createApplyBatchStep({ writer, catalog }), resolveCustomerId: (instanceId, customerId) => reader.resolveCustomerId(instanceId, customerId) });
  return {
    commitBatch,
    sweep: (now) => writer.transaction(async (tx) => tx.sweepExpired(now)),
    resetDerived: (instanceId) => writer.transaction(async (tx) => tx.resetDerived(instanceId)),
    compactLake: (today) => compactLake({ lake, retention: () => retentionOf(control), applied: { writer, watermarks: () => reader.lakeWatermarks() } }, today),
    refresh: (instanceId, runId, config, now, onStage) => runRefresh({ writer, catalog, now: () => now, newId }, instanceId, runId, config, onStage),
  };
}
