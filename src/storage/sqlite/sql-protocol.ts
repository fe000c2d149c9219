/** The main thread's SQL on the embedded backend, as it crosses to the writer thread's connection (runtime/apply-protocol.ts carries it). */
export type SqlParam = string | number | null | ReadonlyArray<string | number | null>;

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
