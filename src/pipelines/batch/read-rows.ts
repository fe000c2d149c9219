import { parse } from 'csv-parse';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { PassThrough, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { JsonObject, JsonValue } from '../../domain/json-path.js';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, type AsyncBuffer } from 'hyparquet';
import type { BatchFormat, CsvOptions } from '../../ports/batch-store.js';

/** A problem with a whole file (its header, its compression, its syntax): the batch fails with it. */
export class FileError extends Error {}

export type Row = { kind: 'cells'; cells: Record<string, string>; row: number } | { kind: 'json'; value: JsonValue; row: number } | { kind: 'bad'; row: number; message: string };

const MAX_JSON_ARRAY_BYTES = 64 * 1024 * 1024;

/**
 * A part of a plain (not gzip'd) text file: its bytes from `start` to before `end`, which begin
 * and end at row boundaries. A CSV part after the first is given the file's header.
 */
export interface FilePart {
  start: number;
  end?: number;
  header?: string[];
}

/** The file as a byte stream, gunzipped when it starts with the gzip magic bytes; a part of it as it is. */
async function bytes(path: string, part?: FilePart): Promise<Readable> {
  if (part) return createReadStream(path, { start: part.start, ...(part.end === undefined ? {} : { end: part.end - 1 }) });
  const fh = await open(path, 'r');
  const head = Buffer.alloc(2);
  await fh.read(head, 0, 2, 0);
  await fh.close();
  const raw = createReadStream(path);
  if (head[0] !== 0x1f || head[1] !== 0x8b) return raw;
  const gunzip = createGunzip();
  raw.on('error', (e) => gunzip.destroy(e));
  return raw.pipe(gunzip);
}

/** Checks a CSV header: named, unique columns, and every required (mapped) column present. */
export function checkHeader(columns: string[], required: readonly string[]): void {
  if (columns.length === 0 || columns.every((c) => c === '')) throw new FileError('the file has no header row');
  const empty = columns.findIndex((c) => c === '');
  if (empty >= 0) throw new FileError(`header column ${empty + 1} has no name`);
  const dup = columns.find((c, i) => columns.indexOf(c) !== i);
  if (dup !== undefined) throw new FileError(`header column "${dup}" appears twice`);
  const missing = required.filter((c) => !columns.includes(c));
  if (missing.length > 0) throw new FileError(`the mapping names columns the header does not have: ${missing.join(', ')}`);
}

/**
 * Streams a file's rows, numbered from 1 (the first data row; a CSV header is not counted), in
 * constant memory. CSV: header row, configurable delimiter and quote, UTF-8 BOM, CRLF, optional
 * trimming. NDJSON: one JSON value a line. JSON: one array (up to 64 MB). Parquet: row group by
 * row group.
 */
/** `required`: the columns a CSV header must have (by default every column the mapping names). `part`: only that part of a CSV or NDJSON file, its rows numbered from 1. */
export async function* readRows(
  path: string,
  format: BatchFormat,
  csv: CsvOptions,
  mapping: Readonly<Record<string, string>>,
  required: readonly string[] = Object.keys(mapping),
  part?: FilePart,
): AsyncGenerator<Row> {
  if (format === 'parquet') {
    yield* readParquet(path, mapping);
    return;
  }
  const raw = await bytes(path, part);
  // A file that breaks midway (a cut gzip stream, a read error) ends the text here: the rows read
  // from what came before are all given, then the error. Destroying the parser instead would drop
  // the rows it had parsed. The row just before the break is held back (it may be cut short): each
  // row is given once the next one has come, and the last once the text ended whole.
  let broken: Error | undefined;
  const input = new PassThrough();
  raw.on('error', (e: Error) => {
    broken ??= e;
    input.end();
  });
  raw.pipe(input);
  let held: Row | undefined;
  try {
    for await (const row of textRows(input, format, csv, required, () => broken, part)) {
      if (held) yield held;
      held = row;
    }
  } catch (e) {
    if (e instanceof FileError) throw e;
    throw new FileError(`the file could not be read: ${(e as Error).message}`);
  }
  if (held) yield held;
}

/** A CSV header row's column names (trimmed, whatever the trim option: names are matched exactly). */
export const headerColumns = (record: readonly string[]): string[] => record.map((c) => c.trim());

/** CSV options as the parser takes them (the same for the whole file and for each part). */
export const csvParserOptions = (csv: CsvOptions) => ({ delimiter: csv.delimiter, quote: csv.quote, bom: true, trim: csv.trim, relax_column_count: true, skip_empty_lines: true, columns: false }) as const;

/**
 * The rows of a text file (CSV, NDJSON, a JSON array); `broken()` is thrown once the text has
 * ended, if it broke. A part after the first may hold no rows (a part is not a file: it is not
 * "empty").
 */
async function* textRows(input: Readable, format: Exclude<BatchFormat, 'parquet'>, csv: CsvOptions, required: readonly string[], broken: () => Error | undefined, part?: FilePart): AsyncGenerator<Row> {
  const stopIfBroken = (): void => {
    const e = broken();
    if (e) throw e;
  };
  if (format === 'csv') {
    let header = part?.header;
    const parser = input.pipe(parse(csvParserOptions(csv)));
    let n = 0;
    for await (const record of parser as AsyncIterable<string[]>) {
      if (!header) {
        header = headerColumns(record);
        checkHeader(header, required);
        continue;
      }
      n++;
      if (record.length !== header.length) {
        yield { kind: 'bad', row: n, message: `the row has ${record.length} values; the header has ${header.length} columns` };
        continue;
      }
      const cells: Record<string, string> = {};
      header.forEach((c, i) => (cells[c] = record[i]!));
      yield { kind: 'cells', cells, row: n };
    }
    stopIfBroken();
    if (!header) throw new FileError('the file is empty');
    return;
  }
  if (format === 'ndjson') {
    let n = 0;
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      if (line.trim() === '') continue;
      n++;
      try {
        yield { kind: 'json', value: JSON.parse(line) as JsonValue, row: n };
      } catch (e) {
        yield { kind: 'bad', row: n, message: `not valid JSON: ${(e as Error).message}` };
      }
    }
    stopIfBroken();
    if (n === 0 && !(part && part.start > 0)) throw new FileError('the file is empty');
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_JSON_ARRAY_BYTES) throw new FileError('a JSON array file is limited to 64 MB; send larger files as NDJSON');
    chunks.push(chunk);
  }
  stopIfBroken();
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8').replace(/^\uFEFF/, ''));
  } catch (e) {
    throw new FileError(`the file is not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(value)) throw new FileError('a JSON file holds one array of records');
  if (value.length === 0) throw new FileError('the file is empty');
  let n = 0;
  for (const v of value as JsonValue[]) yield { kind: 'json', value: v, row: ++n };
}

/** A Parquet value as JSON: 64-bit integers as numbers (strings beyond 2^53), dates as ISO text. */
function parquetValue(v: unknown): JsonValue {
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Date) {
    const iso = v.toISOString();
    return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso;
  }
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (Array.isArray(v)) return v.map(parquetValue);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, parquetValue(x)]));
  return v as JsonValue;
}

/** Parquet, one row group at a time (a file is never read whole), columns renamed by the mapping. */
async function* readParquet(path: string, mapping: Readonly<Record<string, string>>): AsyncGenerator<Row> {
  let file: AsyncBuffer;
  let groups: Array<{ num_rows: bigint }>;
  try {
    file = await asyncBufferFromFile(path);
    if (file.byteLength === 0) throw new FileError('the file is empty');
    groups = (await parquetMetadataAsync(file)).row_groups;
  } catch (e) {
    if (e instanceof FileError) throw e;
    throw new FileError(`the file could not be read as Parquet: ${(e as Error).message}`);
  }
  let start = 0;
  let n = 0;
  for (const group of groups) {
    const end = start + Number(group.num_rows);
    let rows: Array<Record<string, unknown>>;
    try {
      rows = (await parquetReadObjects({ file, rowStart: start, rowEnd: end })) as Array<Record<string, unknown>>;
    } catch (e) {
      throw new FileError(`the file could not be read as Parquet: ${(e as Error).message}`);
    }
    for (const row of rows) {
      const value: JsonObject = {};
      for (const [col, v] of Object.entries(row)) if (v !== null && v !== undefined) value[mapping[col] ?? col] = parquetValue(v);
      yield { kind: 'json', value, row: ++n };
    }
    start = end;
  }
  if (n === 0) throw new FileError('the file has no rows');
}
