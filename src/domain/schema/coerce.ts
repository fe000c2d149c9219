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

type Coerced = { value?: JsonValue; error?: string };

const BOOLEANS = new Map<string, boolean>([['true', true], ['1', true], ['yes', true], ['y', true], ['false', false], ['0', false], ['no', false], ['n', false]]);

/** How the text cells of one field are read, decided once from the field's schema. */
function cellReader(sub: JsonObject | undefined): (text: string) => Coerced {
  const types = sub ? (Array.isArray(sub['type']) ? sub['type'] : [sub['type']]) : ['string'];
  if (types.includes('integer') || types.includes('number')) {
    const integer = !types.includes('number');
    return (text) => {
      const n = Number(text);
      if (!Number.isFinite(n)) return { error: 'not a number' };
      if (integer && !Number.isInteger(n)) return { error: 'not an integer' };
      return { value: n };
    };
  }
  if (types.includes('boolean')) {
    return (text) => {
      const b = BOOLEANS.get(text.toLowerCase());
      return b === undefined ? { error: 'not a boolean (true/false, yes/no, 1/0)' } : { value: b };
    };
  }
  if (sub?.['format'] === 'date') {
    return (text) => {
      const d = parseDate(text);
      return d === null ? { error: 'not a valid date (YYYY-MM-DD or YYYYMMDD)' } : { value: d };
    };
  }
  if (sub?.['format'] === 'date-time') {
    return (text) => {
      const t = Date.parse(text);
      return Number.isNaN(t) ? { error: 'not a valid date-time (RFC 3339)' } : { value: new Date(t).toISOString() };
    };
  }
  return (text) => ({ value: text });
}

export type RowCoercer = (row: Record<string, string>) => { record: JsonObject; errors: CellError[] };

/**
 * Reads rows of text cells (column → text) as records of the schema's types, with the cells that
 * do not fit. Each column's field and reader are worked out once, at its first cell.
 */
export function rowCoercer(schema: JsonObject, mapping: Readonly<Record<string, string>>): RowCoercer {
  const columns = new Map<string, { field: string; read: (text: string) => Coerced }>();
  const columnOf = (column: string): { field: string; read: (text: string) => Coerced } => {
    let c = columns.get(column);
    if (!c) {
      const field = mapping[column] ?? column;
      c = { field, read: cellReader(subschemaAt(schema, field)) };
      columns.set(column, c);
    }
    return c;
  };
  return (row) => {
    const record: JsonObject = {};
    const errors: CellError[] = [];
    for (const column in row) {
      const text = row[column]!;
      if (text === '') continue;
      const { field, read } = columnOf(column);
      const { value, error } = read(text);
      if (error) errors.push({ field, value: text, message: `${field}: ${error}` });
      else if (value !== undefined) setFlatPath(record, field, value);
    }
    return { record, errors };
  };
}
