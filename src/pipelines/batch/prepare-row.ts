import type { RowCoercer } from '../../domain/schema/coerce.js';
import type { RowError } from '../../ports/batch-store.js';
import type { InstanceCatalog } from '../ingest/catalog.js';
import { prepareRecord } from '../ingest/prepare-record.js';
import type { PreparedRecord } from '../records.js';
import type { Row } from './read-rows.js';

/** What preparing a batch's rows needs to know, the same for every row. */
export interface RowContext {
  catalog: InstanceCatalog;
  datasetId: string;
  batchId: string;
  caller: string | null;
  coerce: RowCoercer;
  now(): number;
}

/** The record id of rows prepared only for their errors (ids are made when a row is applied). */
export const VALIDATING_ID = 'validating';

/** One row of a file as a record ready to apply, or its errors (each with the file, row, field and a message). */
export function prepareRow(ctx: RowContext, file: string, row: Row, recordId: string): { record?: PreparedRecord; errors?: RowError[] } {
  if (row.kind === 'bad') return { errors: [{ file, row: row.row, field: null, value: null, message: row.message }] };
  let raw = row.kind === 'json' ? row.value : undefined;
  if (row.kind === 'cells') {
    const { record, errors } = ctx.coerce(row.cells);
    if (errors.length > 0) return { errors: errors.map((e) => ({ file, row: row.row, field: e.field, value: e.value, message: e.message })) };
    raw = record;
  }
  const prepared = prepareRecord({
    catalog: ctx.catalog,
    dataset: ctx.catalog.datasetsById.get(ctx.datasetId)!,
    raw: raw!,
    recordId,
    receipt: { requestId: ctx.batchId, receivedAt: ctx.now(), path: 'batch', caller: ctx.caller },
  });
  if (prepared.ok) return { record: prepared.record };
  const details = prepared.violations.length > 0 ? prepared.violations : [{ path: '/', keyword: prepared.code, message: prepared.message }];
  return { errors: details.map((v) => ({ file, row: row.row, field: v.path === '/' ? null : v.path.slice(1).replaceAll('/', '.'), value: null, message: `${v.path}: ${v.message}` })) };
}

/** The errors of a part of a file: rows read, rows with errors, and the errors of the first `keep` of those (in row order). */
export interface PartErrors {
  rows: number;
  badRows: number;
  errors: RowError[][];
}

/** Reads rows for their errors only, keeping the first `keep` bad rows' errors and counting the rest. */
export async function collectRowErrors(rows: AsyncIterable<Row>, errorsOf: (row: Row) => RowError[] | undefined, keep: number): Promise<PartErrors> {
  const out: PartErrors = { rows: 0, badRows: 0, errors: [] };
  for await (const row of rows) {
    out.rows++;
    const errors = errorsOf(row);
    if (!errors) continue;
    out.badRows++;
    if (out.errors.length < keep) out.errors.push(errors);
  }
  return out;
}
