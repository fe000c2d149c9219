import { setFlatPath, type JsonObject, type JsonValue } from '../json-path.js';
import { subschemaAt } from './describe.js';

export interface CellError {
  field: string;
  value: string;
  message: string;
}

const isLeapYear = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** A calendar date from `YYYY-MM-DD` or `YYYYMMDD`, as `YYYY-MM-DD`; null when it is no real date. */
export function parseDate(text: string): string | null {
  const m = /^(\d{4})-?(\d{2})-?(\d{2})$/.exec(text);
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (mo < 1 || mo > 12 || d < 1) return null;
  const max = mo === 2 && isLeapYear(y) ? 29 : DAYS[mo - 1]!;
  if (d > max) return null;
  return `${m[1]}-${m[2]}-${m[3]}`;
}

/** One text cell as the schema's type says; an empty cell is missing (left out). */
export function coerceCell(schema: JsonObject, field: string, text: string): { value?: JsonValue; error?: string } {
  if (text === '') return {};
  const sub = subschemaAt(schema, field);
  const types = sub ? (Array.isArray(sub['type']) ? sub['type'] : [sub['type']]) : ['string'];
  if (types.includes('integer') || types.includes('number')) {
    const n = Number(text);
    if (!Number.isFinite(n)) return { error: 'not a number' };
    if (!types.includes('number') && !Number.isInteger(n)) return { error: 'not an integer' };
    return { value: n };
  }
  if (types.includes('boolean')) {
    const t = text.toLowerCase();
    if (['true', '1', 'yes', 'y'].includes(t)) return { value: true };
    if (['false', '0', 'no', 'n'].includes(t)) return { value: false };
    return { error: 'not a boolean (true/false, yes/no, 1/0)' };
  }
  if (sub?.['format'] === 'date') {
    const d = parseDate(text);
    return d === null ? { error: 'not a valid date (YYYY-MM-DD or YYYYMMDD)' } : { value: d };
  }
  if (sub?.['format'] === 'date-time') {
    const t = Date.parse(text);
    return Number.isNaN(t) ? { error: 'not a valid date-time (RFC 3339)' } : { value: new Date(t).toISOString() };
  }
  return { value: text };
}

/** A row of text cells (column → text) as a record of the schema's types, with the cells that do not fit. */
export function coerceRow(schema: JsonObject, row: Record<string, string>, mapping: Readonly<Record<string, string>>): { record: JsonObject; errors: CellError[] } {
  const record: JsonObject = {};
  const errors: CellError[] = [];
  for (const [column, text] of Object.entries(row)) {
    const field = mapping[column] ?? column;
    const { value, error } = coerceCell(schema, field, text);
    if (error) errors.push({ field, value: text, message: `${field}: ${error}` });
    else if (value !== undefined) setFlatPath(record, field, value);
  }
  return { record, errors };
}
