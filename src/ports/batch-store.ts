export type BatchStatus = 'loading' | 'processing' | 'success' | 'partial' | 'failed';
export type BatchFormat = 'csv' | 'ndjson' | 'json' | 'parquet';

export interface CsvOptions {
  delimiter: string;
  quote: string;
  /** Trim spaces around values (e.g. after delimiters). */
  trim: boolean;
}

export interface Batch {
  instanceId: string;
  id: string;
  datasetId: string;
  format: BatchFormat;
  status: BatchStatus;
  /** Percent of failed rows above which the batch fails whole. */
  errorThreshold: number;
  /** `mapping`: the dataset's column mapping with the batch's own laid over it; `requiredColumns`: the columns the batch's own names (a file without one of them fails; the dataset's apply where present). */
  options: { mapping: Record<string, string>; requiredColumns?: string[]; csv: CsvOptions; caller: string | null };
  files: Array<{ name: string; bytes: number }>;
  rowsRead: number;
  rowsApplied: number;
  rowsFailed: number;
  message: string | null;
  createdAt: number;
  completedAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface RowError {
  file: string;
  row: number;
  field: string | null;
  value: string | null;
  message: string;
}

/** Batches and their row errors. */
export interface BatchStore {
  create(batch: Batch): Promise<void>;
  get(instanceId: string, id: string): Promise<Batch | undefined>;
  list(instanceId: string, datasetId: string | undefined, limit: number): Promise<Batch[]>;
  update(batch: Batch): Promise<void>;
  /** The row of the batch's files (counted over all of them, in order) through which its records are applied; 0 before any. */
  appliedThroughRow(instanceId: string, id: string): Promise<number>;
  /** Every instance's batches in `processing`: being processed, or left so by a node that stopped. */
  processing(): Promise<Batch[]>;
  addErrors(instanceId: string, batchId: string, firstSeq: number, errors: readonly RowError[]): Promise<void>;
  errors(instanceId: string, batchId: string, limit: number, offset: number): Promise<RowError[]>;
}
