import type { SqlClient } from './sql-client.js';
import type { Batch, BatchStore, RowError } from '../../ports/batch-store.js';

interface BatchRow {
  instance_id: string;
  id: string;
  dataset_id: string;
  format: string;
  status: string;
  error_threshold: number;
  options: string;
  files: string;
  rows_read: number;
  rows_applied: number;
  rows_failed: number;
  message: string | null;
  created_at: number;
  completed_at: number | null;
  started_at: number | null;
  finished_at: number | null;
}

const toBatch = (r: BatchRow): Batch => ({
  instanceId: r.instance_id,
  id: r.id,
  datasetId: r.dataset_id,
  format: r.format as Batch['format'],
  status: r.status as Batch['status'],
  errorThreshold: r.error_threshold,
  options: JSON.parse(r.options) as Batch['options'],
  files: JSON.parse(r.files) as Batch['files'],
  rowsRead: r.rows_read,
  rowsApplied: r.rows_applied,
  rowsFailed: r.rows_failed,
  message: r.message,
  createdAt: r.created_at,
  completedAt: r.completed_at,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

/** Batches and their row errors in SQL, the same on SQLite and PostgreSQL. */
export class SqlBatchStore implements BatchStore {
  constructor(private readonly db: SqlClient) {}

  async create(b: Batch): Promise<void> {
    await this.db.run(
      `INSERT INTO batches (instance_id, id, dataset_id, format, status, error_threshold, options, files, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [b.instanceId, b.id, b.datasetId, b.format, b.status, b.errorThreshold, JSON.stringify(b.options), JSON.stringify(b.files), b.createdAt],
    );
  }

  async get(instanceId: string, id: string): Promise<Batch | undefined> {
    const row = await this.db.get<BatchRow>('SELECT * FROM batches WHERE instance_id = ? AND id = ?', [instanceId, id]);
    return row && toBatch(row);
  }

  async list(instanceId: string, datasetId: string | undefined, limit: number): Promise<Batch[]> {
    const rows = datasetId
      ? await this.db.all<BatchRow>('SELECT * FROM batches WHERE instance_id = ? AND dataset_id = ? ORDER BY created_at DESC, id DESC LIMIT ?', [instanceId, datasetId, limit])
      : await this.db.all<BatchRow>('SELECT * FROM batches WHERE instance_id = ? ORDER BY created_at DESC, id DESC LIMIT ?', [instanceId, limit]);
    return rows.map(toBatch);
  }

  async update(b: Batch): Promise<void> {
    await this.db.run(
      `UPDATE batches SET status = ?, files = ?, rows_read = ?, rows_applied = ?, rows_failed = ?, message = ?, completed_at = ?, started_at = ?, finished_at = ?
       WHERE instance_id = ? AND id = ?`,
      [b.status, JSON.stringify(b.files), b.rowsRead, b.rowsApplied, b.rowsFailed, b.message, b.completedAt, b.startedAt, b.finishedAt, b.instanceId, b.id],
    );
  }

  async appliedThroughRow(instanceId: string, id: string): Promise<number> {
    return Number((await this.db.get<{ row: number | string }>('SELECT applied_through_row AS row FROM batches WHERE instance_id = ? AND id = ?', [instanceId, id]))?.row ?? 0);
  }

  async processing(): Promise<Batch[]> {
    return (await this.db.all<BatchRow>("SELECT * FROM batches WHERE status = 'processing' ORDER BY completed_at, instance_id, id")).map(toBatch);
  }

  async addErrors(instanceId: string, batchId: string, firstSeq: number, errors: readonly RowError[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (const [i, e] of errors.entries()) {
        await tx.run(
          `INSERT INTO batch_errors (instance_id, batch_id, seq, file, row, field, value, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (instance_id, batch_id, seq) DO UPDATE SET file = excluded.file, row = excluded.row, field = excluded.field, value = excluded.value, message = excluded.message`,
          [instanceId, batchId, firstSeq + i, e.file, e.row, e.field, e.value, e.message],
        );
      }
    });
  }

  async errors(instanceId: string, batchId: string, limit: number, offset: number): Promise<RowError[]> {
    return this.db.all<RowError>('SELECT file, row, field, value, message FROM batch_errors WHERE instance_id = ? AND batch_id = ? ORDER BY seq LIMIT ? OFFSET ?', [instanceId, batchId, limit, offset]);
  }
}
