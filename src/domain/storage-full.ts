import { TesseraError } from './errors.js';

/** The errors of a write that found no room: the disk (ENOSPC), the user's quota (EDQUOT), SQLite's file (SQLITE_FULL), PostgreSQL's disk (SQLSTATE 53100, disk_full). */
const FULL = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL', '53100']);

/** A write that found no room, as a store raised it or as `storageFull` made it: never the fault of one record, so never kept as a record's failure. */
export const isStorageFull = (err: unknown): boolean =>
  (err instanceof TesseraError && err.code === 'storage_full') || FULL.has(String((err as { code?: unknown } | null)?.code));

/**
 * A write refused for want of room, as the answer a client gets: 503 `storage_full`, nothing of the
 * request kept, to be sent again once there is room. Undefined for any other error.
 */
export function storageFull(err: unknown, what: string): TesseraError | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !FULL.has(code)) return undefined;
  return new TesseraError(
    'unavailable',
    'storage_full',
    `the disk of Tessera's data is full (${code} while writing ${what}): nothing of this request was acknowledged; free space there (or grow it) and send it again`,
    { retryAfterSeconds: 10 },
  );
}
