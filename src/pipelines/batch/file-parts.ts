import { open } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import type { BatchFormat, CsvOptions } from '../../ports/batch-store.js';
import { csvParserOptions, headerColumns, type FilePart } from './read-rows.js';

/** How far past the middle a line end is looked for. */
const SEARCH_BYTES = 1024 * 1024;

/**
 * Two parts of a plain CSV or NDJSON file of at least `minBytes`, split at the first line end
 * after its middle, so that each can be read on a thread of its own; undefined when the file is
 * smaller, gzip'd, of another format, or has no line end there. An NDJSON line end always ends a
 * row. A CSV one may sit inside a quoted value: then the first part does not end at a row's end,
 * its reading fails, and the reader must read the file whole instead (the first part's parse is
 * the file's own up to there, so when it ends cleanly the split is a row boundary).
 */
export async function splitInTwo(path: string, format: BatchFormat, csv: CsvOptions, minBytes: number): Promise<[FilePart, FilePart] | undefined> {
  if (format !== 'csv' && format !== 'ndjson') return undefined;
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    if (size < minBytes) return undefined;
    const head = Buffer.alloc(Math.min(size, SEARCH_BYTES));
    await fh.read(head, 0, head.length, 0);
    if (head[0] === 0x1f && head[1] === 0x8b) return undefined;
    const mid = Math.floor(size / 2);
    const around = Buffer.alloc(Math.min(SEARCH_BYTES, size - mid));
    await fh.read(around, 0, around.length, mid);
    const newline = around.indexOf(10);
    if (newline < 0 || mid + newline + 1 >= size) return undefined;
    const at = mid + newline + 1;
    if (format === 'ndjson') return [{ start: 0, end: at }, { start: at }];
    const header = csvHeaderOf(head, csv);
    if (!header || header.end >= at) return undefined;
    return [{ start: 0, end: at }, { start: at, header: header.columns }];
  } finally {
    await fh.close();
  }
}

/** A CSV header from the file's first bytes (its first line), with where it ends; undefined when it is not one plain line. */
function csvHeaderOf(head: Buffer, csv: CsvOptions): { columns: string[]; end: number } | undefined {
  const newline = head.indexOf(10);
  if (newline < 0) return undefined;
  try {
    const [first] = parse(head.subarray(0, newline + 1), csvParserOptions(csv)) as string[][];
    return first ? { columns: headerColumns(first), end: newline + 1 } : undefined;
  } catch {
    return undefined;
  }
}
