export type SqlScalar = string | number | null;
/** Arrays are PostgreSQL's (a column of rows for `unnest`); SQLite takes scalars only. */
export type SqlValue = SqlScalar | readonly SqlScalar[];

/**
 * The little SQL a dialect-neutral store needs. Statements use `?` placeholders and the SQL both
 * SQLite and PostgreSQL understand (`INSERT … ON CONFLICT … DO UPDATE SET … = excluded.…`);
 * integers (times in ms) come back as numbers on both.
 */
export interface SqlClient {
  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>;
  /**
   * Runs `fn` in one transaction (on one connection). A transaction that lost a race with another
   * writer throws `TransactionConflict`.
   */
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T>;
}

/**
 * A unique key already taken, as either dialect says it: PostgreSQL's unique_violation (23505), or
 * SQLite's "UNIQUE constraint failed" (its message is all that crosses from the writer thread).
 */
export const isUniqueViolation = (err: unknown): boolean =>
  (err as { code?: unknown } | null)?.code === '23505' || (err instanceof Error && err.message.includes('UNIQUE constraint failed'));
