import { parentPort, workerData } from 'node:worker_threads';
import { Catalog } from '../pipelines/ingest/catalog.js';
import { createApplyEngine } from '../pipelines/apply/apply-engine.js';
import { outcomesToWire, worksFromWire } from '../pipelines/apply/apply-wire.js';
import { FsLake } from '../storage/lake-fs/fs-lake.js';
import type { ApplyWorkerData, FromApplyWorker, ToApplyWorker, UpkeepResult } from './apply-protocol.js';
import { SqlControlStore } from '../storage/sql/control-store.js';
import { SqliteClient } from '../storage/sqlite/sqlite-client.js';
import { openDatabase } from '../storage/sqlite/open.js';
import { SqliteProfileWriter } from '../storage/sqlite/profile-writer.js';
import { SqliteProfileReader } from '../storage/sqlite/profile-reader.js';
import { SqlEndpoint } from '../storage/sqlite/sql-endpoint.js';
import { TransactionQueue } from '../storage/sqlite/transaction-queue.js';
import { TesseraError } from '../domain/errors.js';
import { storageFull } from '../domain/storage-full.js';
import { WalCheckpointer } from './wal-checkpointer.js';

/**
 * The writer thread: the one writer of the lake and of profile state. A group commit is one hop
 * here (lake append, fdatasync, transaction), and it never blocks the HTTP event loop; reads go to
 * a read connection on the main thread. A small group's fdatasync runs off this thread, so one
 * group is applied while the next is synced.
 */
const data = workerData as ApplyWorkerData;
const port = parentPort!;
const db = openDatabase(data.dbFile, { writer: true });
const checkpointer = new WalCheckpointer(data.dbFile);
// One queue of transactions for the connection: group commits, upkeep and the main thread's writes.
const transactions = new TransactionQueue(db);
const sql = new SqliteClient(db, transactions);
const control = new SqlControlStore(sql);
const catalog = new Catalog(control);
const writer = new SqliteProfileWriter(db, transactions);
const mainThreadSql = new SqlEndpoint(sql, transactions);
// Groups are synced off the thread while the group before is applied; an import's large groups on it.
const lake = new FsLake(data.lakeDir, { syncImportsOnThreadFromBytes: 64 * 1024 });
const engine = createApplyEngine({ writer, reader: new SqliteProfileReader(db), lake, control, catalog });
const send = (m: FromApplyWorker): void => port.postMessage(m);
/** An error as it crosses to the main thread: a TesseraError (a store that found no room is one) keeps its kind, code and details. */
const failed = (id: number, err: unknown): FromApplyWorker => {
  const e = storageFull(err, 'the state database') ?? err;
  if (e instanceof TesseraError) return { type: 'failed', id, message: e.message, code: e.code, kind: e.kind, ...(e.details !== undefined ? { details: e.details } : {}) };
  return { type: 'failed', id, message: e instanceof Error ? e.message : String(e) };
};
const answer = <T>(id: number, work: Promise<T>, result: (value: T) => UpkeepResult): void => {
  work.then(
    (value) => send({ type: 'done', id, result: result(value) }),
    (err: unknown) => send(failed(id, err)),
  );
};

port.on('message', (m: ToApplyWorker) => {
  if (m.type === 'invalidate') catalog.invalidate(m.instanceId);
  else if (m.type === 'commit') {
    engine.commitBatch(worksFromWire(m.works), m.now).then(
      (results) => send({ type: 'applied', id: m.id, results: outcomesToWire(results) }),
      (err: unknown) => send(failed(m.id, err)),
    );
  } else if (m.type === 'sweep') answer(m.id, engine.sweep(m.now), (r) => r);
  else if (m.type === 'reset') answer(m.id, engine.resetDerived(m.instanceId), () => ({}));
  else if (m.type === 'compact') answer(m.id, engine.compactLake(m.today), (n) => ({ compacted: n }));
  else if (m.type === 'sql') answer(m.id, mainThreadSql.handle(m.request), (answer) => ({ sql: answer }));
  else if (m.type === 'refresh') answer(m.id, engine.refresh(m.instanceId, m.runId, m.config, m.now, (stage) => send({ type: 'progress', id: m.id, stage })), (refresh) => ({ refresh }));
  else if (m.type === 'close') {
    void Promise.all([writer.close(), lake.close(), checkpointer.close()]).then(() => {
      db.close();
      send({ type: 'closed' });
      port.close();
    });
  }
});
send({ type: 'ready' });
