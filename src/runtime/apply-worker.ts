import { TesseraError } from '../domain/errors.js';
import type { Worker } from 'node:worker_threads';
import { spawnWorker } from './spawn-worker.js';
import { outcomesFromWire, worksToWire } from '../pipelines/apply/apply-wire.js';
import type { ApplyWorkerData, FromApplyWorker, ToApplyWorker, UpkeepResult } from './apply-protocol.js';
import type { SqlAnswer, SqlRequest } from '../storage/sqlite/sql-protocol.js';
import type { ApplyOutcome, CommitWork } from '../pipelines/records.js';
import type { UnificationConfig } from '../domain/unify/config.js';
import type { RefreshResult } from '../pipelines/refresh/run-refresh.js';

/**
 * The writer's young generation: semi-spaces of 32 MB (16 on Node 20 by default), since a group's records live
 * through its whole transaction and every scavenge in between copies them: half the writer's GC time, same RSS.
 */
const WRITER_RESOURCE_LIMITS = { maxYoungGenerationSizeMb: 96 };

/** The main thread's handle on the writer thread: group commits and upkeep tasks as promises, in order. */
export class ApplyWorker {
  private readonly worker: Worker;
  /** Requests waiting for their answer: commits (outcomes) and upkeep tasks (their result). */
  private readonly pending = new Map<number, { resolve: (r: ApplyOutcome[][] | UpkeepResult) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  /** Progress listeners of long upkeep tasks (refresh runs), by request id. */
  private readonly progress = new Map<number, (stage: string) => void>();
  private readonly ready: Promise<void>;
  private closed?: Promise<void>;
  private failure: Error | undefined;

  constructor(data: ApplyWorkerData) {
    this.worker = spawnWorker('apply-worker-main', data, WRITER_RESOURCE_LIMITS);
    let onReady: () => void = () => undefined;
    let onFail: (err: Error) => void = () => undefined;
    this.ready = new Promise((resolve, reject) => {
      onReady = resolve;
      onFail = reject;
    });
    this.worker.on('message', (m: FromApplyWorker) => {
      if (m.type === 'ready') onReady();
      else if (m.type === 'applied') this.settle(m.id, (p) => p.resolve(outcomesFromWire(m.results)));
      else if (m.type === 'done') this.settle(m.id, (p) => p.resolve(m.result));
      else if (m.type === 'failed') this.settle(m.id, (p) => p.reject(m.kind && m.code ? new TesseraError(m.kind, m.code, m.message, m.details) : Object.assign(new Error(m.message), m.code ? { code: m.code } : {})));
      else if (m.type === 'progress') this.progress.get(m.id)?.(m.stage);
    });
    const fail = (err: Error): void => {
      this.failure = err;
      onFail(err);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => {
      if (!this.closed) fail(new Error(`the apply worker exited (code ${code})`));
    });
  }

  private settle(id: number, fn: (p: { resolve: (r: ApplyOutcome[][] | UpkeepResult) => void; reject: (e: Error) => void }) => void): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    fn(p);
  }

  private post(m: ToApplyWorker): void {
    this.worker.postMessage(m);
  }

  /** Undefined while the writer thread runs; the error that stopped it otherwise. */
  get error(): Error | undefined {
    return this.failure;
  }

  started(): Promise<void> {
    return this.ready;
  }

  commitBatch = async (works: readonly CommitWork[], now: number): Promise<ApplyOutcome[][]> => {
    if (this.failure) throw this.failure;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: (r) => resolve(r as ApplyOutcome[][]), reject });
      this.post({ type: 'commit', id, works: worksToWire(works), now });
    });
  };

  /** Runs the main thread's SQL on the writer's connection (see RoutedSqliteClient). */
  async sql(request: SqlRequest): Promise<SqlAnswer> {
    return (await this.upkeep((id) => ({ type: 'sql', id, request }))).sql ?? {};
  }

  private upkeep(message: (id: number) => ToApplyWorker): Promise<UpkeepResult> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: (r) => resolve(r as UpkeepResult), reject });
      this.post(message(id));
    });
  }

  /** Deletes what expired before `now` (expiry is also enforced at read time, so this only reclaims space). */
  async sweep(now: number): Promise<{ overrides: number; activities: number }> {
    const r = await this.upkeep((id) => ({ type: 'sweep', id, now }));
    return { overrides: r.overrides ?? 0, activities: r.activities ?? 0 };
  }

  /** Empties the tables derived from the lake for an instance (before a rebuild). */
  async resetDerived(instanceId: string): Promise<void> {
    await this.upkeep((id) => ({ type: 'reset', id, instanceId }));
  }

  /** Rewrites closed, fully applied lake segments as Parquet; resolves with how many. */
  async compactLake(today: string): Promise<number> {
    return (await this.upkeep((id) => ({ type: 'compact', id, today }))).compacted ?? 0;
  }

  /** Runs a refresh for an instance on the writer thread (one transaction); `onStage` hears each stage start. */
  async refresh(instanceId: string, runId: string, config: UnificationConfig, now: number, onStage: (stage: string) => void): Promise<RefreshResult> {
    let requestId = 0;
    try {
      const result = await this.upkeep((id) => {
        requestId = id;
        this.progress.set(id, onStage);
        return { type: 'refresh', id, instanceId, runId, config, now };
      });
      return result.refresh!;
    } finally {
      this.progress.delete(requestId);
    }
  }

  invalidate(instanceId: string): void {
    this.post({ type: 'invalidate', instanceId });
  }

  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      this.worker.once('exit', () => resolve());
      this.post({ type: 'close' });
    });
    return this.closed;
  }
}
