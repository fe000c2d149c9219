import { parentPort, workerData } from 'node:worker_threads';
import { Catalog } from '../pipelines/ingest/catalog.js';
import { createApplyBatchStep } from '../pipelines/apply/apply-batch.js';
import { createCommitBatchStep } from '../pipelines/apply/commit-batch.js';
import { FsLake } from '../storage/lake-fs/fs-lake.js';
import type { ApplyWorkerData, FromApplyWorker, ToApplyWorker } from '../pipelines/apply/apply-protocol.js';
import { SqlControlStore } from '../storage/sql/control-store.js';
import { SqliteClient } from '../storage/sqlite/sqlite-client.js';
import { openDatabase } from '../storage/sqlite/open.js';
import { SqliteProfileWriter } from '../storage/sqlite/profile-writer.js';
import { SqliteProfileReader } from '../storage/sqlite/profile-reader.js';
import { compactLake } from '../pipelines/apply/compact-lake.js';
import { runRefresh } from '../pipelines/refresh/run-refresh.js';
import { newId } from '../domain/ids.js';
import { TesseraError } from '../domain/errors.js';

/**
 * The writer thread: the one writer of the lake and of profile state. A group commit is one hop
 * here (lake append, fdatasync, transaction), and it never blocks the HTTP event loop; reads go to
 * a read connection on the main thread.
 */
const data = workerData as ApplyWorkerData;
const port = parentPort!;
const db = openDatabase(data.dbFile);
const control = new SqlControlStore(new SqliteClient(db));
const catalog = new Catalog(control);
const retention = async (): Promise<Array<{ instanceId: string; datasetId: string; days: number }>> => {
  const out: Array<{ instanceId: string; datasetId: string; days: number }> = [];
  for (const i of await control.listInstances()) {
    for (const d of await control.listDatasets(i.id)) if (d.retentionDays !== null) out.push({ instanceId: i.id, datasetId: d.id, days: d.retentionDays });
  }
  return out;
};
const writer = new SqliteProfileWriter(db);
const reader = new SqliteProfileReader(db);
const lake = new FsLake(data.lakeDir);
const commitBatch = createCommitBatchStep({ lake, applyBatch: createApplyBatchStep({ writer, catalog }) });
const send = (m: FromApplyWorker): void => port.postMessage(m);

port.on('message', (m: ToApplyWorker) => {
  if (m.type === 'invalidate') catalog.invalidate(m.instanceId);
  else if (m.type === 'commit') {
    commitBatch(m.works, m.now).then(
      (results) => send({ type: 'applied', id: m.id, results }),
      (err: unknown) => send({ type: 'failed', id: m.id, message: err instanceof Error ? err.message : String(err) }),
    );
  } else if (m.type === 'sweep') {
    writer.transaction(async (tx) => tx.sweepExpired(m.now)).then(
      (r) => send({ type: 'done', id: m.id, result: r }),
      (err: unknown) => send({ type: 'failed', id: m.id, message: err instanceof Error ? err.message : String(err) }),
    );
  } else if (m.type === 'reset') {
    writer.transaction(async (tx) => tx.resetDerived(m.instanceId)).then(
      () => send({ type: 'done', id: m.id, result: {} }),
      (err: unknown) => send({ type: 'failed', id: m.id, message: err instanceof Error ? err.message : String(err) }),
    );
  } else if (m.type === 'compact') {
    compactLake({ lake, writer, watermarks: () => reader.lakeWatermarks(), retention }, m.today).then(
      (n) => send({ type: 'done', id: m.id, result: { compacted: n } }),
      (err: unknown) => send({ type: 'failed', id: m.id, message: err instanceof Error ? err.message : String(err) }),
    );
  } else if (m.type === 'refresh') {
    const deps = { writer, catalog, now: () => m.now, newId };
    runRefresh(deps, m.instanceId, m.runId, m.config, (stage) => send({ type: 'progress', id: m.id, stage })).then(
      (refresh) => send({ type: 'done', id: m.id, result: { refresh } }),
      (err: unknown) => send({ type: 'failed', id: m.id, message: err instanceof Error ? err.message : String(err), ...(err instanceof TesseraError ? { code: err.code } : {}) }),
    );
  } else if (m.type === 'close') {
    void Promise.all([writer.close(), lake.close()]).then(() => {
      db.close();
      send({ type: 'closed' });
      port.close();
    });
  }
});
send({ type: 'ready' });
