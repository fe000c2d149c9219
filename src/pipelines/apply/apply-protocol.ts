import type { ApplyOutcome, CommitWork } from '../records.js';

/** Messages between the committer (main thread) and the apply worker. */
export type ToApplyWorker =
  | { type: 'commit'; id: number; works: CommitWork[]; now: number }
  | { type: 'invalidate'; instanceId: string }
  | { type: 'sweep'; id: number; now: number }
  | { type: 'reset'; id: number; instanceId: string }
  | { type: 'compact'; id: number; today: string }
  | { type: 'close' };

export type FromApplyWorker =
  | { type: 'ready' }
  | { type: 'applied'; id: number; results: ApplyOutcome[][] }
  | { type: 'done'; id: number; result: UpkeepResult }
  | { type: 'failed'; id: number; message: string }
  | { type: 'closed' };

/** What an upkeep task (sweep, reset, compaction) answers. */
export interface UpkeepResult {
  overrides?: number;
  activities?: number;
  compacted?: number;
}

export interface ApplyWorkerData {
  dbFile: string;
  lakeDir: string;
}
