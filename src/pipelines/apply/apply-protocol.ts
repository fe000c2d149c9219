import type { UnificationConfig } from '../../domain/unify/config.js';
import type { RefreshResult } from '../refresh/run-refresh.js';
import type { ApplyOutcome, CommitWork } from '../records.js';

/** Messages between the committer (main thread) and the apply worker. */
export type ToApplyWorker =
  | { type: 'commit'; id: number; works: CommitWork[]; now: number }
  | { type: 'invalidate'; instanceId: string }
  | { type: 'sweep'; id: number; now: number }
  | { type: 'reset'; id: number; instanceId: string }
  | { type: 'compact'; id: number; today: string }
  | { type: 'refresh'; id: number; instanceId: string; runId: string; config: UnificationConfig; now: number }
  | { type: 'close' };

export type FromApplyWorker =
  | { type: 'ready' }
  | { type: 'applied'; id: number; results: ApplyOutcome[][] }
  | { type: 'done'; id: number; result: UpkeepResult }
  | { type: 'failed'; id: number; message: string; code?: string }
  | { type: 'progress'; id: number; stage: string }
  | { type: 'closed' };

/** What an upkeep task (sweep, reset, compaction) answers. */
export interface UpkeepResult {
  overrides?: number;
  activities?: number;
  compacted?: number;
  refresh?: RefreshResult;
}

export interface ApplyWorkerData {
  dbFile: string;
  lakeDir: string;
}
