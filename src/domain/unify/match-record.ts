import { normalizeValue, type NormalizerContext, type NormalizerName } from './normalizers.js';

/** One source record as the matcher sees it. */
export interface MatchRecord {
  /** Index of its dataset in the configuration's `datasets` (the match order). */
  dataset: number;
  key: string;
  /** When the source last changed the record (ms). */
  timestamp: number;
  /** Canonical field → raw value, already mapped through the dataset's `fields`. */
  values: Readonly<Record<string, string | null>>;
  /** Normalized identities (`namespace:value`): records that share one are the same person. */
  identities: readonly string[];
  /** How many attributes the record fills (for the mostFilled winner rule). */
  filled: number;
}

/** Normalized values of one field for every record, computed once per (field, normalizers). */
export class Columns {
  private readonly cache = new Map<string, Array<string | null>>();
  constructor(
    private readonly records: readonly MatchRecord[],
    private readonly ctx: NormalizerContext,
  ) {}

  get(field: string, normalizers: readonly NormalizerName[] = []): Array<string | null> {
    const cacheKey = `${field}\u0000${normalizers.join(',')}`;
    let column = this.cache.get(cacheKey);
    if (!column) {
      column = new Array<string | null>(this.records.length);
      const memo = new Map<string, string | null>();
      for (let i = 0; i < this.records.length; i++) {
        const raw = this.records[i]!.values[field];
        if (raw === null || raw === undefined) {
          column[i] = null;
          continue;
        }
        let value = memo.get(raw);
        if (value === undefined) {
          value = normalizeValue(raw, normalizers, this.ctx);
          memo.set(raw, value);
        }
        column[i] = value;
      }
      this.cache.set(cacheKey, column);
    }
    return column;
  }
}
