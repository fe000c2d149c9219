import type { ErrorKind } from '../../domain/errors.js';
import type { UnificationConfig } from '../../domain/unify/config.js';
import type { RefreshResult } from '../refresh/run-refresh.js';
import type { WireOutcomes, WireWorks } from './apply-wire.js';

/** Messages between the committer (main thread) and the apply worker. */
export type ToApplyWorker =
  | { type: 'commit'; id: number; works: WireWorks; now: number }
  | { type: 'invalidate'; instanceId: string }
  | { type: 'sweep'; id: number; now: number }
  | { type: 'reset'; id: number; instanceId: string }
  | { type: 'compact'; id: number; today: string }
  | { type: 'refresh'; id: number; instanceId: string; runId: string; config: UnificationConfig; now: number }
  | { type: 'sql'; id: number; request: SqlRequest }
  | { type: 'close' };

type SqlParam = string | number | null | ReadonlyArray<string | number | null>;

/** One statement of the main thread's, run on the writer's connection. */
export interface SqlStep {
  kind: 'run' | 'get' | 'all';
  sql: string;
  params: readonly SqlParam[];
}

/**
 * The main thread's writes on the embedded backend (control plane, batches, usage, runs) go to
 * the writer's connection: a statement in a transaction of its own, or a transaction opened,
 * stepped through and ended from the main thread, queued with the writer's other transactions.
 */
export type SqlRequest =
  | { kind: 'statement'; step: SqlStep }
  | { kind: 'begin' }
  | { kind: 'step'; txId: number; step: SqlStep }
  | { kind: 'end'; txId: number; commit: boolean };

export interface SqlAnswer {
  txId?: number;
  changes?: number;
  row?: unknown;
  rows?: unknown[];
}

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
