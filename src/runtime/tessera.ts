import { join } from 'node:path';
import type { Clock } from '../domain/clock.js';
import { systemClock } from '../domain/clock.js';
import { SqliteControlStore } from '../storage/sqlite/control-store.js';
import { openDatabase } from '../storage/sqlite/open.js';
import { SqliteProfileStore } from '../storage/sqlite/profile-store.js';
import { FsLake } from '../storage/lake-fs/fs-lake.js';
import { Catalog } from '../pipelines/ingest/catalog.js';
import { Committer } from '../pipelines/apply/committer.js';
import { createApplyBatchStep } from '../pipelines/apply/apply-batch.js';
import { replayLakeTail } from '../pipelines/apply/replay-lake.js';
import { IngestService } from '../pipelines/ingest/ingest-service.js';
import { KeyService } from '../services/keys.js';
import { InstanceService } from '../services/instances.js';
import { CatalogAdmin } from '../services/catalog-admin.js';
import { ProfileService } from '../services/profiles.js';
import type { ControlStore } from '../ports/control-store.js';
import type { ProfileStore } from '../ports/profile-store.js';
import type { Lake } from '../ports/lake.js';

export interface TesseraOptions {
  dataDir: string;
  clock?: Clock;
  maxBatchRecords?: number;
}

/** The composition root: wires stores, the lake, pipelines and services for one process. */
export interface Tessera {
  clock: Clock;
  control: ControlStore;
  store: ProfileStore;
  lake: Lake;
  catalog: Catalog;
  committer: Committer;
  ingest: IngestService;
  keys: KeyService;
  instances: InstanceService;
  admin: CatalogAdmin;
  profiles: ProfileService;
  /** Applies what the lake holds beyond the last applied point (after a crash). */
  recover(): Promise<number>;
  close(): Promise<void>;
}

export function openControl(dataDir: string, clock: Clock = systemClock): { control: SqliteControlStore; keys: KeyService; instances: InstanceService; close(): void } {
  const db = openDatabase(join(dataDir, 'state.db'));
  const control = new SqliteControlStore(db);
  const keys = new KeyService(control, clock);
  return { control, keys, instances: new InstanceService(control, keys, clock), close: () => db.close() };
}

export function createTessera(options: TesseraOptions): Tessera {
  const clock = options.clock ?? systemClock;
  const dbFile = join(options.dataDir, 'state.db');
  const writer = openDatabase(dbFile);
  const readerDb = openDatabase(dbFile, { readonly: true });
  const control = new SqliteControlStore(writer);
  const store = new SqliteProfileStore(writer, readerDb);
  const lake = new FsLake(join(options.dataDir, 'lake'));
  const catalog = new Catalog(control);
  const applyBatch = createApplyBatchStep({ store, catalog, clock });
  const committer = new Committer(lake, applyBatch, { maxBatchRecords: options.maxBatchRecords ?? 4000, maxInFlight: 2 });
  const keys = new KeyService(control, clock);
  return {
    clock,
    control,
    store,
    lake,
    catalog,
    committer,
    ingest: new IngestService(committer, clock),
    keys,
    instances: new InstanceService(control, keys, clock),
    admin: new CatalogAdmin(control, catalog, clock),
    profiles: new ProfileService(store.reader, catalog, clock),
    recover: () => replayLakeTail({ lake, reader: store.reader, committer, catalog }),
    async close() {
      await committer.close();
      await lake.close();
      await store.close();
    },
  };
}
