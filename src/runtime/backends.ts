import { join } from 'node:path';
import { LocalLock, type ClusterLock } from '../ports/cluster-lock.js';
import { LocalRateLimiter, type RateLimiter } from '../ports/rate-limiter.js';
import { SharedRateLimiter } from '../storage/postgres/shared-rate-limiter.js';
import type { ControlStore } from '../ports/control-store.js';
import type { Lake } from '../ports/lake.js';
import type { ProfileReader } from '../ports/profile-store.js';
import { createApplyEngine, type ApplyEngine } from '../pipelines/apply/apply-engine.js';
import { Catalog } from '../pipelines/ingest/catalog.js';
import { FsLake } from '../storage/lake-fs/fs-lake.js';
import { AdvisoryLock } from '../storage/postgres/advisory-lock.js';
import { openPostgres, type PostgresOptions } from '../storage/postgres/open.js';
import { PgClient } from '../storage/postgres/pg-client.js';
import { SqlControlStore } from '../storage/sql/control-store.js';
import { SqlProfileReader } from '../storage/sql/profile-reader.js';
import { SqlProfileWriter } from '../storage/sql/profile-writer.js';
import type { SqlClient } from '../storage/sql/sql-client.js';
import { lockDataDir, type DataDirLock } from '../storage/sqlite/data-dir-lock.js';
import { openDatabase, stateDbFile } from '../storage/sqlite/open.js';
import { SqliteProfileReader } from '../storage/sqlite/profile-reader.js';
import { SqliteClient } from '../storage/sqlite/sqlite-client.js';
import { RoutedSqliteClient } from '../storage/sqlite/routed-sqlite-client.js';
import { ApplyWorker } from './apply-worker.js';

/** How often a node of the PostgreSQL backend looks for catalog changes made by other nodes. */
export const CATALOG_WATCH_MS = 500;

/** The one writer of profile state as the runtime sees it: a writer thread, or in process. */
export interface Applier extends ApplyEngine {
  /** Undefined while it runs; the error that stopped it otherwise. */
  readonly error: Error | undefined;
  invalidate(instanceId: string): void;
  close(): Promise<void>;
}

/** What a backend gives the composition root. */
export interface Backend {
  name: 'embedded' | 'postgres';
  /** The control plane and the other small stores (batches, usage, write keys, runs). */
  sql: SqlClient;
  control: ControlStore;
  reader: ProfileReader;
  /** The lake as this thread sees it (for reading; the writer appends). */
  lake: Lake;
  catalog: Catalog;
  applier: Applier;
  lock: ClusterLock;
  rateLimiter: RateLimiter;
  close(): Promise<void>;
}

/**
 * SQLite (WAL) in the data dir: reads here, the writer on a worker thread. The control plane and
 * the small stores read here and write through the writer thread, so this thread never waits for
 * SQLite's write lock.
 */
export async function embeddedBackend(dataDir: string): Promise<Backend> {
  // One process at a time on the data dir (see lockDataDir); released when the backend closes.
  const dataDirLock = lockDataDir(dataDir);
  try {
    return await openEmbedded(dataDir, dataDirLock);
  } catch (err) {
    dataDirLock.release();
    throw err;
  }
}

async function openEmbedded(dataDir: string, dataDirLock: DataDirLock): Promise<Backend> {
  const dbFile = stateDbFile(dataDir);
  // Opened read-write: it applies the migrations before the writer starts.
  const main = openDatabase(dbFile);
  const readerDb = openDatabase(dbFile, { readonly: true });
  const worker = new ApplyWorker({ dbFile, lakeDir: join(dataDir, 'lake') });
  await worker.started();
  const sql = new RoutedSqliteClient(new SqliteClient(main), worker);
  const control = new SqlControlStore(sql);
  const catalog = new Catalog(control);
  catalog.onInvalidate((instanceId) => worker.invalidate(instanceId));
  return {
    name: 'embedded',
    sql,
    control,
    reader: new SqliteProfileReader(readerDb),
    lake: new FsLake(join(dataDir, 'lake')),
    catalog,
    applier: worker,
    lock: new LocalLock(),
    rateLimiter: new LocalRateLimiter(),
    async close() {
      await worker.close();
      readerDb.close();
      main.close();
      dataDirLock.release();
    },
  };
}

/**
 * PostgreSQL for profile state and the control plane (tables keyed by instance and profile),
 * the lake in the data dir (a directory or mounted storage), the writer in this process, and
 * cluster-wide locks as advisory locks.
 */
export async function postgresBackend(dataDir: string, options: PostgresOptions): Promise<Backend> {
  const pool = await openPostgres(options);
  const sql = new PgClient(pool);
  const control = new SqlControlStore(sql);
  // Other nodes change the catalog too: a change is seen within half a second (its version), and
  // every catalog is loaded again every few seconds whatever happens.
  const catalog = new Catalog(control, { maxAgeMs: 5_000 });
  const unwatch = catalog.watch(CATALOG_WATCH_MS);
  const reader = new SqlProfileReader(sql);
  const lake = new FsLake(join(dataDir, 'lake'));
  const writer = new SqlProfileWriter(sql);
  const engine = createApplyEngine({ writer, reader, lake, control, catalog });
  return {
    name: 'postgres',
    sql,
    control,
    reader,
    lake,
    catalog,
    applier: { ...engine, error: undefined, invalidate: () => undefined, close: async () => Promise.all([writer.close(), lake.close()]).then(() => undefined) },
    lock: new AdvisoryLock(pool, options.schema ?? ''),
    rateLimiter: new SharedRateLimiter(sql),
    async close() {
      unwatch();
      await pool.end();
    },
  };
}
