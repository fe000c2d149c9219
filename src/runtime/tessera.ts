import { join } from 'node:path';
import type { Clock } from '../domain/clock.js';
import { systemClock } from '../domain/clock.js';
import { SqlControlStore } from '../storage/sql/control-store.js';
import { SqliteClient } from '../storage/sqlite/sqlite-client.js';
import { openDatabase, stateDbFile } from '../storage/sqlite/open.js';
import { embeddedBackend, postgresBackend } from './backends.js';
import type { PostgresOptions } from '../storage/postgres/open.js';
import { Catalog } from '../pipelines/ingest/catalog.js';
import { Committer } from '../pipelines/apply/committer.js';
import { replayLakeTail } from '../pipelines/apply/replay-lake.js';
import { IngestService } from '../pipelines/ingest/ingest-service.js';
import { KeyService } from '../services/keys.js';
import { InstanceService } from '../services/instances.js';
import { CatalogAdmin } from '../services/catalog-admin.js';
import { ProfileService } from '../services/profiles.js';
import { RealtimeService } from '../services/realtime.js';
import { BatchService } from '../services/batches.js';
import { validatePartOnWorker } from './validate-part-worker.js';
import { UsageService } from '../services/usage.js';
import { TrackingService } from '../services/tracking.js';
import { SqlWriteKeyStore } from '../storage/sql/write-key-store.js';
import { SqlUsageStore } from '../storage/sql/usage-store.js';
import { SqlBatchStore } from '../storage/sql/batch-store.js';
import { SqlLogStateStore } from '../storage/sql/log-state-store.js';
import type { ControlStore } from '../ports/control-store.js';
import type { ProfileReader } from '../ports/profile-store.js';
import type { Lake } from '../ports/lake.js';
import type { RateLimiter } from '../ports/rate-limiter.js';
import { RefreshService } from '../services/refresh.js';
import { SourceRecordService } from '../services/source-records.js';
import { MatchExplainer } from '../services/match-explainer.js';
import { SqlRefreshRunStore } from '../storage/sql/refresh-run-store.js';
import { NatsIngestionLog, type NatsLogOptions } from '../storage/nats/nats-log.js';
import { appendToLog } from '../pipelines/log/append-to-log.js';
import { ApplyLagGate } from '../pipelines/log/apply-lag-gate.js';
import type { CommitBatch } from '../pipelines/apply/committer.js';
import type { Applier } from './backends.js';
import type { IngestionLog } from '../ports/ingestion-log.js';

const SWEEP_INTERVAL_MS = 60_000;
const USAGE_FLUSH_MS = 10_000;
const COMPACT_INTERVAL_MS = 10 * 60_000;

export interface TesseraOptions {
  /** The lake (and, on the embedded backend, the SQLite files) live here. */
  dataDir: string;
  /** Profile state and the control plane on PostgreSQL instead of the embedded SQLite. */
  postgres?: PostgresOptions;
  /** Scale-out: streaming ingestion goes to this NATS JetStream log, and workers apply it (needs `postgres`). */
  nats?: NatsLogOptions;
  /** Scale-out: streaming ingestion waits, then is refused, while the workers are more than this far behind (ms). */
  maxApplyLagMs?: number;
  clock?: Clock;
  maxBatchRecords?: number;
}

/** The composition root: wires stores, the lake, pipelines and services for one process. */
export interface Tessera {
  clock: Clock;
  control: ControlStore;
  reader: ProfileReader;
  /** The lake as this thread sees it: for reading (the writer thread appends). */
  lake: Lake;
  catalog: Catalog;
  /** Commits that apply before they answer (real-time changes, batch imports, deletions; all ingestion when embedded). */
  committer: Committer;
  /** Every commit of either committer (scale-out: streaming ingestion commits to the log, outcome `queued`). */
  onCommitted: Committer['onCommitted'];
  /** Scale-out with a lag bound: the age (ms) of the oldest message this node appended that the workers have not applied. */
  applyLagMs?: () => Promise<number>;
  /** Requests waiting for a commit, in either committer. */
  commitQueueDepth(): number;
  ingest: IngestService;
  keys: KeyService;
  instances: InstanceService;
  admin: CatalogAdmin;
  profiles: ProfileService;
  /** Null while the writer thread runs; why it stopped otherwise (readiness). */
  writerError(): string | null;
  /** Scale-out: null while the ingestion log answers; why it does not otherwise (readiness). Embedded: always null. */
  logError(): Promise<string | null>;
  /** Applies what the lake holds beyond the last applied point (after a crash). */
  recover(): Promise<number>;
  /** Recomputes every derived table of an instance (or of all) from the lake, then refreshes those with unification settings; returns the records applied. */
  rebuild(instanceId?: string): Promise<number>;
  /** Rewrites closed, fully applied lake segments as Parquet now (also every 10 minutes); returns how many. Scale-out: 0, the lake writer keeps the lake. */
  compactLake(): Promise<number>;
  /** Deletes expired overrides and activities now (the sweeper also runs every minute). */
  sweep(): Promise<{ overrides: number; activities: number }>;
  realtime: RealtimeService;
  batches: BatchService;
  usage: UsageService;
  tracking: TrackingService;
  refresh: RefreshService;
  records: SourceRecordService;
  /** Ingestion rate limits: in memory (embedded), or shared by every node (PostgreSQL). */
  rateLimiter: RateLimiter;
  explainer: MatchExplainer;
  close(): Promise<void>;
}

export function openControl(dataDir: string, clock: Clock = systemClock): { control: SqlControlStore; keys: KeyService; instances: InstanceService; close(): void } {
  const db = openDatabase(stateDbFile(dataDir));
  const control = new SqlControlStore(new SqliteClient(db));
  const keys = new KeyService(control, clock);
  return { control, keys, instances: new InstanceService(control, keys, clock), close: () => db.close() };
}

/**
 * Opens Tessera on the embedded backend: the control plane and reads on this thread, the apply
 * pipeline (the one writer of profile state) on a worker thread, and the lake on disk.
 */
export async function openTessera(options: TesseraOptions): Promise<Tessera> {
  const clock = options.clock ?? systemClock;
  if (options.nats && !options.postgres) throw new Error('the NATS ingestion log needs the postgres backend (--backend postgres)');
  const backend = options.postgres ? await postgresBackend(options.dataDir, options.postgres) : await embeddedBackend(options.dataDir);
  const { sql: mainSql, control, reader, lake, catalog, applier: worker } = backend;
  const log = options.nats ? await NatsIngestionLog.open(options.nats) : undefined;
  const maxBatchRecords = options.maxBatchRecords ?? 4000;
  // Three groups at the writer: one applied while the next is synced to the lake and a third waits.
  const committer = new Committer(log ? logThenApply(log, worker) : worker.commitBatch, clock, { maxBatchRecords, maxInFlight: 3 });
  // One group at a time to the log, so that a partition's messages keep their order.
  const maxLagMs = options.maxApplyLagMs;
  const logState = new SqlLogStateStore(mainSql);
  const lagGate = log && maxLagMs !== undefined ? new ApplyLagGate({ partitions: log.partitions, maxLagMs, appliedOffsets: () => logState.offsets() }) : undefined;
  const ingestCommitter = log ? new Committer(logForWorkers(log, lagGate), clock, { maxBatchRecords, maxInFlight: 1 }) : committer;
  const keys = new KeyService(control, clock);
  const batches = new BatchService({ store: new SqlBatchStore(mainSql), catalog, committer, clock, dir: join(options.dataDir, 'batches'), lock: backend.lock, validatePartElsewhere: validatePartOnWorker });
  const ingest = new IngestService(ingestCommitter, clock);
  const admin = new CatalogAdmin(control, catalog, clock);
  const tracking = new TrackingService({ store: new SqlWriteKeyStore(mainSql), admin, catalog, ingest, clock });
  const usage = new UsageService({ store: new SqlUsageStore(mainSql), clock });
  const usageFlusher = setInterval(() => void usage.flush().catch(() => undefined), USAGE_FLUSH_MS);
  usageFlusher.unref();
  // Scale-out: the lake is the lake writer's (a worker's); this node does not compact it.
  const compactor = log ? undefined : setInterval(() => void worker.compactLake(new Date(clock.now()).toISOString().slice(0, 10)).catch(() => undefined), COMPACT_INTERVAL_MS);
  compactor?.unref();
  const profiles = new ProfileService(reader, catalog, clock);
  const runs = new SqlRefreshRunStore(mainSql);
  const refresh = new RefreshService({
    control,
    runs,
    catalog,
    clock,
    lock: backend.lock,
    runner: (instanceId, runId, config, now, onStage) => worker.refresh(instanceId, runId, config, now, onStage),
  });
  await refresh.start();
  // One node sweeps at a time (expiry is exact at read time anyway; this reclaims space).
  const sweepOnce = async (): Promise<void> => {
    const release = await backend.lock.tryAcquire('sweeper');
    if (!release) return;
    try {
      await worker.sweep(clock.now());
    } finally {
      await release();
    }
  };
  // Each node also takes up the batches that a node which stopped left unfinished, and ends its
  // refresh runs (one node each: their locks).
  const sweeper = setInterval(() => {
    void sweepOnce().catch(() => undefined);
    void batches.resumeInterrupted().catch(() => undefined);
    void refresh.failAbandoned().catch(() => undefined);
  }, SWEEP_INTERVAL_MS);
  sweeper.unref();
  return {
    clock,
    control,
    reader,
    lake,
    catalog,
    committer,
    onCommitted: (listener) => {
      committer.onCommitted(listener);
      if (ingestCommitter !== committer) ingestCommitter.onCommitted(listener);
    },
    ...(lagGate ? { applyLagMs: () => lagGate.lagMs() } : {}),
    commitQueueDepth: () => committer.depth + (ingestCommitter !== committer ? ingestCommitter.depth : 0),
    ingest,
    keys,
    instances: new InstanceService(control, keys, clock),
    admin,
    profiles,
    refresh,
    rateLimiter: backend.rateLimiter,
    records: new SourceRecordService({ catalog, profiles, committer, clock }),
    explainer: new MatchExplainer({ catalog, control, runs, profiles, reader }),
    writerError: () => worker.error?.message ?? null,
    logError: async () => (log ? log.check().then(() => null, (err: unknown) => (err as Error).message) : null),
    async recover() {
      // Scale-out: the log is what recovers (workers resume from their offsets); the lake is the lake writer's.
      const replayed = log ? 0 : await replayLakeTail({ lake, reader, committer, catalog });
      await batches.resumeInterrupted();
      return replayed;
    },
    sweep: () => worker.sweep(clock.now()),
    // Scale-out: the lake writer (a worker) keeps the lake up.
    compactLake: async () => (log ? 0 : worker.compactLake(new Date(clock.now()).toISOString().slice(0, 10))),
    async rebuild(instanceId?: string) {
      await committer.drain();
      const ids = instanceId ? [instanceId] : (await control.listInstances()).map((i) => i.id);
      for (const id of ids) await worker.resetDerived(id);
      const applied = await replayLakeTail({ lake, reader, committer, catalog });
      // The lake holds the sources; the clusters a refresh made on top of them are made again.
      for (const id of ids) {
        if (!(await control.getUnificationConfig(id))) continue;
        const run = await (await refresh.trigger(id, 'manual')).done;
        if (run.status === 'failed') throw new Error(`rebuilt ${id} from the lake, but its refresh failed: ${run.message ?? ''}`);
      }
      return applied;
    },
    realtime: new RealtimeService({ catalog, reader, committer, clock, precheck: log !== undefined }),
    batches,
    usage,
    tracking,
    async close() {
      clearInterval(sweeper);
      clearInterval(compactor);
      clearInterval(usageFlusher);
      await usage.flush();
      await batches.idle();
      await refresh.close();
      await ingestCommitter.close();
      await committer.close();
      await log?.close();
      await worker.close();
      await backend.close();
    },
  };
}

/** Scale-out, synchronous commits: logged (for the lake writer) first, then applied here before the answer. */
function logThenApply(log: IngestionLog, applier: Applier): CommitBatch {
  return async (works, now) => {
    // Works that carry lake positions are replayed from the lake (a rebuild): not logged again.
    const fresh = works.filter((w) => !w.lakePositions);
    if (fresh.length > 0) await appendToLog(log, fresh, true);
    return applier.commitBatch(
      works.map((w) => (w.lakePositions ? w : { ...w, lakePositions: [] })),
      now,
    );
  };
}

/** Scale-out, streaming ingestion: durable in the log is acknowledged; the workers apply it (paced to them by the gate, when set). */
function logForWorkers(log: IngestionLog, gate: ApplyLagGate | undefined): CommitBatch {
  return async (works) => {
    await gate?.admit(works.reduce((n, w) => n + w.records.length + w.failed.length, 0));
    await appendToLog(log, works, false, gate && ((partition, seq, records) => gate.appended(partition, seq, records)));
    return works.map((w) => w.records.map(() => ({ status: 'queued' as const, customerId: null, merged: [] })));
  };
}
