import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import type pg from 'pg';
import { systemClock, type Clock } from '../domain/clock.js';
import { newId } from '../domain/ids.js';
import { compactLake, retentionOf } from '../pipelines/apply/compact-lake.js';
import { createApplyBatchStep } from '../pipelines/apply/apply-batch.js';
import { Catalog } from '../pipelines/ingest/catalog.js';
import { applyPartition, combineGroups, partitionConsumer } from '../pipelines/log/apply-from-log.js';
import { LAKE_CONSUMER, writeLakeFromLog } from '../pipelines/log/write-lake-from-log.js';
import type { ApplyOutcome } from '../pipelines/records.js';
import { FsLake } from '../storage/lake-fs/fs-lake.js';
import { NatsIngestionLog, type NatsLogOptions } from '../storage/nats/nats-log.js';
import { AdvisoryLock } from '../storage/postgres/advisory-lock.js';
import { openPostgres, type PostgresOptions } from '../storage/postgres/open.js';
import { PgClient } from '../storage/postgres/pg-client.js';
import { SqlControlStore } from '../storage/sql/control-store.js';
import { SqlLogStateStore } from '../storage/sql/log-state-store.js';
import { SqlProfileWriter } from '../storage/sql/profile-writer.js';
import { workerMetrics } from './worker-metrics.js';
import { CATALOG_WATCH_MS } from './backends.js';

export interface LogWorkerOptions {
  postgres: PostgresOptions;
  nats: NatsLogOptions;
  /** The lake is written here (shared by the workers: whichever holds the lake writer writes it). */
  dataDir: string;
  /** A port for /health and /metrics (0: any free port); none when undefined. */
  port?: number;
  host?: string;
  onError?(err: unknown, where: string): void;
  /** Time for applying and for lake upkeep (which days are past); the system clock by default. */
  clock?: Clock;
}

export interface WorkerStatus {
  id: string;
  partitions: number[];
  lakeWriter: boolean;
  liveWorkers: number;
  /** Records applied by this process, by outcome (`skipped`: delivered again, applied before). */
  outcomes: Record<string, number>;
  messages: number;
  lakeRecords: number;
  /** Profiles merged into another, and identity warnings (refused links, graph-limit drops), by this process's applying. */
  merges: number;
  identityWarnings: number;
  /** Transactions run again after losing a race with another writer (merges across partitions). */
  retriedTransactions: number;
}

export interface LogWorker {
  url: string | undefined;
  status(): WorkerStatus;
  /** Whether every partition is applied, and the lake written, up to the log's last message (of every worker, not just this one). */
  caughtUp(): Promise<boolean>;
  /** Lake upkeep now (also every 10 minutes), by the lake writer between two appends: retention, then past days' segments rewritten as Parquet; how many. Fails when this worker does not hold the lake writer. */
  compactLake(): Promise<number>;
  close(): Promise<void>;
}

interface Task {
  abort: AbortController;
  done: Promise<void>;
}

/** The locks a worker holds: one per partition it applies, and the lake writer's (shared with `tessera rebuild`). */
export const workerLocks = (pool: pg.Pool, postgres: PostgresOptions, nats: NatsLogOptions): AdvisoryLock => new AdvisoryLock(pool, `${postgres.schema ?? ''}/${nats.stream}`);
export const partitionLock = (partition: number): string => `partition/${partition}`;
export const LAKE_WRITER_LOCK = 'lake-writer';

/** How often partitions are claimed and spread. */
const REBALANCE_MS = 1_000;
/** A worker is seen as gone when it has not been heard of for this long. */
const LIVENESS_MS = 5_000;
/** How often the lake writer applies retention and compacts the lake. */
const UPKEEP_MS = 10 * 60_000;

/**
 * A worker of the scale-out mode: applies partitions of the ingestion log to PostgreSQL and,
 * when it holds that role, writes the lake. Partitions are held with advisory locks (a worker
 * that dies lets go of them at once, its connection closing) and spread evenly over the workers
 * that heartbeat; one worker at a time applies a partition, in order.
 */
export async function startLogWorker(options: LogWorkerOptions): Promise<LogWorker> {
  const partitions = options.nats.partitions;
  const pool = await openPostgres({ ...options.postgres, maxConnections: options.postgres.maxConnections ?? Math.min(8, partitions + 2) });
  // Each held partition keeps a connection of its own for its lock.
  const leasePool = await openPostgres({ ...options.postgres, maxConnections: partitions + 2 });
  const sql = new PgClient(pool);
  const control = new SqlControlStore(sql);
  const catalog = new Catalog(control, { maxAgeMs: 5_000 });
  const unwatch = catalog.watch(CATALOG_WATCH_MS);
  // One writer for all of a worker's partitions. Running their groups side by side, each its own
  // transaction, was tried: they waited on each other's new identities (one person's records spread
  // over partitions) and redid work. The writer's transactions overlap only as a pipeline instead:
  // the next group is read and worked through while the one before writes and commits (see
  // SqlProfileWriter). The partitions' groups that come while two transactions are in flight go
  // as one transaction (combineGroups).
  const writer = new SqlProfileWriter(sql, { overlap: true });
  const applyBatch = combineGroups(createApplyBatchStep({ writer, catalog }));
  const state = new SqlLogStateStore(sql);
  const lock = workerLocks(leasePool, options.postgres, options.nats);
  const log = await NatsIngestionLog.open(options.nats);
  // Off the thread: the lake writer's syncs would otherwise stall the partitions' applying.
  const lake = new FsLake(join(options.dataDir, 'lake'));
  const id = newId();
  const onError = options.onError ?? (() => undefined);
  const tasks = new Map<number, Task>();
  let lakeTask: Task | undefined;
  let liveWorkers = 1;
  const outcomes: Record<string, number> = {};
  let messages = 0;
  let lakeRecords = 0;
  let merges = 0;
  let identityWarnings = 0;
  const clock = options.clock ?? systemClock;

  /** Lake upkeep asked for (by `compactLake`) and when it is next due on its own. */
  const upkeepWaiters: Array<{ resolve(n: number): void; reject(err: unknown): void }> = [];
  // Due by elapsed time, like the embedded writer's timer; the clock says which days are past.
  let upkeepAt = performance.now() + UPKEEP_MS;
  const upkeep = async (): Promise<void> => {
    if (upkeepWaiters.length === 0 && performance.now() < upkeepAt) return;
    upkeepAt = performance.now() + UPKEEP_MS;
    const waiters = upkeepWaiters.splice(0);
    try {
      const n = await compactLake({ lake, retention: () => retentionOf(control) }, new Date(clock.now()).toISOString().slice(0, 10));
      for (const w of waiters) w.resolve(n);
    } catch (err) {
      onError(err, 'lake upkeep');
      for (const w of waiters) w.reject(err);
    }
  };

  /** Where each partition was last trimmed: messages below are gone. */
  const trimmed = new Map<number, number>();
  /** Lets go of the messages that both their partition's applier and the lake writer are past (by the lake writer's holder, once a second). */
  const trimConsumed = async (): Promise<void> => {
    const o = await state.offsets();
    for (let p = 0; p < partitions; p++) {
      const below = Math.min(o.get(partitionConsumer(p)) ?? 0, o.get(LAKE_CONSUMER) ?? 0) + 1;
      if (below <= (trimmed.get(p) ?? 1)) continue;
      await log.trim(p, below);
      trimmed.set(p, below);
    }
  };
  const countOutcomes = (n: number, lists: ApplyOutcome[][]): void => {
    messages += n;
    for (const list of lists) {
      for (const o of list) {
        outcomes[o.status] = (outcomes[o.status] ?? 0) + 1;
        merges += o.merged.length;
        identityWarnings += o.warnings ?? 0;
      }
    }
  };

  /** Runs a held role until it ends (stopped, lock lost, or failed), then lets go of the lock. */
  const run = (release: () => Promise<void>, abort: AbortController, body: (signal: AbortSignal) => Promise<void>, where: string, ended: () => void): Task => {
    const done = body(abort.signal)
      .catch((err: unknown) => onError(err, where))
      .finally(async () => {
        ended();
        await release().catch(() => undefined);
      });
    return { abort, done };
  };

  const claim = async (partition: number): Promise<void> => {
    const abort = new AbortController();
    const release = await lock.tryAcquire(partitionLock(partition), () => abort.abort());
    if (!release) return;
    const task = run(
      release,
      abort,
      (signal) => applyPartition({ log, applyBatch, offset: (c) => state.offset(c), now: () => clock.now(), onApplied: countOutcomes, freshen: (instanceId, version) => catalog.reloadIfOlder(instanceId, version) }, partition, signal),
      `partition ${partition}`,
      () => tasks.delete(partition),
    );
    tasks.set(partition, task);
  };

  const claimLakeWriter = async (): Promise<void> => {
    const abort = new AbortController();
    const release = await lock.tryAcquire(LAKE_WRITER_LOCK, () => abort.abort());
    if (!release) return;
    lakeTask = run(
      release,
      abort,
      (signal) =>
        writeLakeFromLog(
          {
            log,
            lake,
            offset: () => state.offset(LAKE_CONSUMER),
            setOffset: (seq) => state.setOffset(LAKE_CONSUMER, seq),
            onWritten: (n) => (lakeRecords += n),
            between: upkeep,
          },
          signal,
        ),
      'lake writer',
      () => (lakeTask = undefined),
    );
  };

  const stop = async (task: Task): Promise<void> => {
    task.abort.abort();
    await task.done;
  };

  let stopped = false;
  let closing: Promise<void> | undefined;
  const rebalance = async (): Promise<void> => {
    const now = Date.now();
    await state.heartbeat(id, now, [...tasks.keys()]);
    liveWorkers = Math.max(1, await state.liveWorkers(now - LIVENESS_MS));
    const target = Math.ceil(partitions / liveWorkers);
    // Give back what is over this worker's share (the newest partitions first), then take free ones.
    const held = [...tasks.keys()].sort((a, b) => b - a);
    while (held.length > target) await stop(tasks.get(held.shift()!)!);
    const start = Math.floor(Math.random() * partitions);
    for (let k = 0; k < partitions && tasks.size < target && !stopped; k++) {
      const p = (start + k) % partitions;
      if (!tasks.has(p)) await claim(p);
    }
    if (!lakeTask && !stopped) await claimLakeWriter();
    if (lakeTask && !stopped) await trimConsumed();
  };
  let ticking: Promise<void> = Promise.resolve();
  const tick = (): void => {
    ticking = ticking.then(() => (stopped ? undefined : rebalance().catch((err: unknown) => onError(err, 'rebalance'))));
  };
  tick();
  const timer = setInterval(tick, REBALANCE_MS);

  /**
   * Whether every partition is applied, and the lake written, up to the log's last message. The
   * lake writer reads every message, so it must be at the last; a partition applied short of it
   * is asked whether it holds anything more (one at a time: /health is polled).
   */
  const caughtUp = async (): Promise<boolean> => {
    const [last, offsets] = await Promise.all([log.lastSeq(), state.offsets()]);
    if ((offsets.get(LAKE_CONSUMER) ?? 0) < last) return false;
    for (let p = 0; p < partitions; p++) {
      const applied = offsets.get(partitionConsumer(p)) ?? 0;
      if (applied < last && (await log.holdsAfter(p, applied))) return false;
    }
    return true;
  };
  const status = (): WorkerStatus => ({ id, partitions: [...tasks.keys()].sort((a, b) => a - b), lakeWriter: lakeTask !== undefined, liveWorkers, outcomes: { ...outcomes }, messages, lakeRecords, merges, identityWarnings, retriedTransactions: writer.retried });
  let app: FastifyInstance | undefined;
  let url: string | undefined;
  if (options.port !== undefined) {
    app = Fastify({ logger: false });
    // `caughtUp`: the cluster's, not just this worker's (null when the log or the database did not answer).
    app.get('/health', async () => ({ status: 'ok', ...status(), caughtUp: await caughtUp().catch(() => null) }));
    const registry = workerMetrics(status);
    app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));
    url = await app.listen({ port: options.port, host: options.host ?? '127.0.0.1' });
  }

  return {
    get url() {
      return url;
    },
    status,
    caughtUp,
    compactLake() {
      if (!lakeTask) return Promise.reject(new Error('this worker does not hold the lake writer'));
      return new Promise<number>((resolve, reject) => upkeepWaiters.push({ resolve, reject }));
    },
    /** Stops applying and writing (the group in hand is finished), then lets go of everything; once. */
    close() {
      closing ??= (async () => {
        stopped = true;
        clearInterval(timer);
        unwatch();
        await ticking;
        await Promise.all([...tasks.values()].map(stop));
        if (lakeTask) await stop(lakeTask);
        for (const w of upkeepWaiters.splice(0)) w.reject(new Error('the worker stopped'));
        await state.leave(id).catch(() => undefined);
        await app?.close();
        await Promise.all([writer.close(), lake.close(), log.close()]);
        await Promise.all([pool.end(), leasePool.end()]);
      })();
      return closing;
    },
  };
}
