import type Database from 'better-sqlite3';
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

export class SqliteBatchStore implements BatchStore {
  private readonly s: Record<string, Database.Statement>;

  constructor(db: Database.Database) {
    const p = (sql: string): Database.Statement => db.prepare(sql);
    this.s = {
      create: p(
        `INSERT INTO batches (instance_id, id, dataset_id, format, status, error_threshold, options, files, created_at)
         VALUES (@instanceId, @id, @datasetId, @format, @status, @errorThreshold, @options, @files, @createdAt)`,
      ),
      get: p('SELECT * FROM batches WHERE instance_id = ? AND id = ?'),
      list: p('SELECT * FROM batches WHERE instance_id = ? ORDER BY created_at DESC, id DESC LIMIT ?'),
      listByDataset: p('SELECT * FROM batches WHERE instance_id = ? AND dataset_id = ? ORDER BY created_at DESC, id DESC LIMIT ?'),
      update: p(
        `UPDATE batches SET status = @status, files = @files, rows_read = @rowsRead, rows_applied = @rowsApplied, rows_failed = @rowsFailed,
           message = @message, completed_at = @completedAt, started_at = @startedAt, finished_at = @finishedAt
         WHERE instance_id = @instanceId AND id = @id`,
      ),
      addError: p('INSERT OR REPLACE INTO batch_errors (instance_id, batch_id, seq, file, row, field, value, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      errors: p('SELECT file, row, field, value, message FROM batch_errors WHERE instance_id = ? AND batch_id = ? ORDER BY seq LIMIT ? OFFSET ?'),
    };
  }

  async create(b: Batch): Promise<void> {
    this.s['create']!.run({ ...b, options: JSON.stringify(b.options), files: JSON.stringify(b.files) });
  }

  async get(instanceId: string, id: string): Promise<Batch | undefined> {
    const row = this.s['get']!.get(instanceId, id) as BatchRow | undefined;
    return row && toBatch(row);
  }

  async list(instanceId: string, datasetId: string | undefined, limit: number): Promise<Batch[]> {
    const rows = (datasetId ? this.s['listByDataset']!.all(instanceId, datasetId, limit) : this.s['list']!.all(instanceId, limit)) as BatchRow[];
    return rows.map(toBatch);
  }

  async update(b: Batch): Promise<void> {
    this.s['update']!.run({ ...b, files: JSON.stringify(b.files) });
  }

  async addErrors(instanceId: string, batchId: string, firstSeq: number, errors: readonly RowError[]): Promise<void> {
    errors.forEach((e, i) => this.s['addError']!.run(instanceId, batchId, firstSeq + i, e.file, e.row, e.field, e.value, e.message));
  }

  async errors(instanceId: string, batchId: string, limit: number, offset: number): Promise<RowError[]> {
    return this.s['errors']!.all(instanceId, batchId, limit, offset) as RowError[];
  }
}
