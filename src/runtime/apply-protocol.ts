import type { ErrorKind } from '../domain/errors.js';
import type { UnificationConfig } from '../domain/unify/config.js';
import type { RefreshResult } from '../pipelines/refresh/run-refresh.js';
import type { WireOutcomes, WireWorks } from '../pipelines/apply/apply-wire.js';
import type { SqlAnswer, SqlRequest } from '../storage/sqlite/sql-protocol.js';

/** Messages between the main thread (the committer, upkeep, the routed SQL) and the writer thread. */
export type ToApplyWorker =
  | { type: 'commit'; id: number; works: WireWorks; now: number }
  | { type: 'invalidate'; instanceId: string }
  | { type: 'sweep'; id: number; now: number }
  | { type: 'reset'; id: number; instanceId: string }
  | { type: 'compact'; id: number; today: string }
  | { type: 'refresh'; id: number; instanceId: string; runId: string; config: UnificationConfig; now: number }
  | { type: 'sql'; id: number; request: SqlRequest }
  | { type: 'close' };

export type FromApplyWorker =
  | { type: 'ready' }
  | { type: 'applied'; id: number; results: WireOutcomes }
  | { type: 'done'; id: number; result: UpkeepResult }
  | { type: 'failed'; id: number; message: string; code?: string; kind?: ErrorKind; details?: unknown }
  | { type: 'progress'; id: number; stage: string }
  | { type: 'closed' };

/** What an upkeep task (sweep, reset, compaction) answers. */
export interface UpkeepResult {
  overrides?: number;
  activities?: number;
  compacted?: number;
  refresh?: RefreshResult;
  sql?: SqlAnswer;
}

export interface ApplyWorkerData {
  dbFile: string;
  lakeDir: string;
}
