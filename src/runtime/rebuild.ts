import { join } from 'node:path';
import { catchUpLake, LAKE_CONSUMER } from '../pipelines/log/write-lake-from-log.js';
import { FsLake } from '../storage/lake-fs/fs-lake.js';
import { NatsIngestionLog, type NatsLogOptions } from '../storage/nats/nats-log.js';
import { openPostgres, type PostgresOptions } from '../storage/postgres/open.js';
import { PgClient } from '../storage/postgres/pg-client.js';
import { SqlLogStateStore } from '../storage/sql/log-state-store.js';
import { LAKE_WRITER_LOCK, partitionLock, workerLocks } from './log-worker.js';
import { openTessera } from './tessera.js';

export interface ScaleOutRebuild {
  /** Records the log held beyond the lake writer, written to the lake first. */
  caughtUp: number;
  /** Records applied from the lake. */
  applied: number;
}

/** `tessera rebuild`: opens Tessera on the data dir (and PostgreSQL), recomputes an instance (or all) from the lake; the records applied. */
export async function rebuildFromLake(options: { dataDir: string; postgres?: PostgresOptions; instanceId?: string }): Promise<number> {
  const t = await openTessera({ dataDir: options.dataDir, ...(options.postgres ? { postgres: options.postgres } : {}) });
  try {
    if (options.instanceId) await t.instances.get(options.instanceId);
    return await t.rebuild(options.instanceId);
  } finally {
    await t.close();
  }
}

/**
 * `tessera rebuild` of the scale-out mode: takes every worker's locks (so that no worker applies
 * meanwhile; it fails when one is running), writes to the shared lake what the log holds beyond
 * the lake writer, then recomputes PostgreSQL's derived tables from the lake. Workers started
 * later resume from their offsets; what they apply again is in the rebuilt state already (skipped).
 */
export async function rebuildScaleOut(options: { postgres: PostgresOptions; nats: NatsLogOptions; dataDir: string; instanceId?: string }): Promise<ScaleOutRebuild> {
  const partitions = options.nats.partitions;
  const leasePool = await openPostgres({ ...options.postgres, maxConnections: partitions + 2 });
  const releases: Array<() => Promise<void>> = [];
  try {
    const locks = workerLocks(leasePool, options.postgres, options.nats);
    for (const name of [LAKE_WRITER_LOCK, ...Array.from({ length: partitions }, (_, p) => partitionLock(p))]) {
      const release = await locks.tryAcquire(name);
      if (!release) throw new Error(`a worker holds ${name} of stream ${options.nats.stream}: stop every \`tessera worker\` (and the API nodes) before a rebuild`);
      releases.push(release);
    }
    const caughtUp = await catchUpTheLake(options);
    return { caughtUp, applied: await rebuildFromLake(options) };
  } finally {
    for (const release of releases.reverse()) await release();
    await leasePool.end();
  }
}

async function catchUpTheLake(options: { postgres: PostgresOptions; nats: NatsLogOptions; dataDir: string }): Promise<number> {
  const pool = await openPostgres({ ...options.postgres, maxConnections: 2 });
  const state = new SqlLogStateStore(new PgClient(pool));
  const log = await NatsIngestionLog.open(options.nats);
  const lake = new FsLake(join(options.dataDir, 'lake'));
  try {
    return await catchUpLake({ log, lake, offset: () => state.offset(LAKE_CONSUMER), setOffset: (seq) => state.setOffset(LAKE_CONSUMER, seq) });
  } finally {
    await lake.close();
    await log.close();
    await pool.end();
  }
}
