/** One aggregate of API usage: a minute, an instance, an operation, a caller, a status and code. */
export interface UsageRow {
  instanceId: string;
  bucketStart: number;
  operation: string;
  caller: string;
  status: number;
  code: string;
  count: number;
  records: number;
  bytesIn: number;
  bytesOut: number;
  latencyMsSum: number;
  histogram: number[];
}

type UsageKeyFields = Pick<UsageRow, 'instanceId' | 'bucketStart' | 'operation' | 'caller' | 'status' | 'code'>;

/** What identifies a row, in the order of the table's key columns: instance, minute, operation, caller, status, code. */
export const usageKeyValues = (r: UsageKeyFields): Array<string | number> => [r.instanceId, r.bucketStart, r.operation, r.caller, r.status, r.code];

/** The same as one text. */
export const usageKey = (r: UsageKeyFields): string => JSON.stringify(usageKeyValues(r));

export interface UsageStore {
  /** Adds the rows to what is stored (counts add up, histograms merge). */
  add(rows: readonly UsageRow[]): Promise<void>;
  range(instanceId: string, from: number, to: number): Promise<UsageRow[]>;
  deleteBefore(time: number): Promise<void>;
}
