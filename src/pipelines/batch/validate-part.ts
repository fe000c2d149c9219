import { rowCoercer } from '../../domain/schema/coerce.js';
import type { BatchFormat, CsvOptions } from '../../ports/batch-store.js';
import type { CatalogSource, InstanceCatalog } from '../ingest/catalog.js';
import { collectRowErrors, prepareRow, VALIDATING_ID, type PartErrors } from './prepare-row.js';
import { readRows, type FilePart } from './read-rows.js';

/** The validating pass over one part of a batch's file: everything it needs, as plain data (it may run on another thread). */
export interface ValidatePartTask {
  path: string;
  fileName: string;
  format: BatchFormat;
  csv: CsvOptions;
  mapping: Record<string, string>;
  /** The columns a CSV header must have (by default every column the mapping names). */
  required?: string[];
  part: FilePart;
  catalog: CatalogSource;
  datasetId: string;
  batchId: string;
  caller: string | null;
  now: number;
  /** The errors of this many bad rows are kept; the others are counted. */
  keep: number;
}

/** Runs a part's validation somewhere (a worker thread); rejects with a FileError when the part cannot be read as rows. */
export type ValidatePartElsewhere = (task: ValidatePartTask) => Promise<PartErrors>;

/** The errors of a part of a file (its rows numbered from 1), validated against `catalog` as pass 1 of a batch does. */
export function validatePart(task: ValidatePartTask, catalog: InstanceCatalog): Promise<PartErrors> {
  const dataset = catalog.datasetsById.get(task.datasetId)!;
  const ctx = { catalog, datasetId: task.datasetId, batchId: task.batchId, caller: task.caller, coerce: rowCoercer(catalog.schemaOf(dataset).jsonSchema, task.mapping), now: () => task.now };
  const rows = readRows(task.path, task.format, task.csv, task.mapping, task.required, task.part);
  return collectRowErrors(rows, (row) => prepareRow(ctx, task.fileName, row, VALIDATING_ID).errors, task.keep);
}
