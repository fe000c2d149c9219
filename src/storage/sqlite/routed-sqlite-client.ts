import type { SqlAnswer, SqlRequest, SqlStep } from './sql-protocol.js';
import type { SqlClient, SqlValue } from '../sql/sql-client.js';

/** Where the main thread's writes go: the writer thread. */
export interface SqlTransport {
  sql(request: SqlRequest): Promise<SqlAnswer>;
}

/**
 * The main thread's SqlClient on the embedded backend. Reads outside a transaction run here, on
 * the main thread's own connection. Writes and transactions run on the writer thread's
 * connection. A write from this thread would otherwise wait for SQLite's write lock, which the
 * writer holds through every group commit and through a whole refresh run. better-sqlite3 waits
 * synchronously, so the HTTP event loop would stop for as long as that lasts (up to the busy timeout,
 * 5 s, and then the write fails with "database is locked").
 */
export class RoutedSqliteClient implements SqlClient {
  constructor(
    private readonly local: SqlClient,
    private readonly writer: SqlTransport,
  ) {}

  all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return this.local.all<T>(sql, params);
  }

  get<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return this.local.get<T>(sql, params);
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    const answer = await this.writer.sql({ kind: 'statement', step: { kind: 'run', sql, params } });
    return { changes: answer.changes ?? 0 };
  }

  /** A transaction on the writer's connection, every statement in it (reads too) run there. */
  async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    const { txId } = await this.writer.sql({ kind: 'begin' });
    const step = (s: SqlStep): Promise<SqlAnswer> => this.writer.sql({ kind: 'step', txId: txId!, step: s });
    const tx: SqlClient = {
      all: async <R>(sql: string, params: readonly SqlValue[] = []) => (await step({ kind: 'all', sql, params })).rows as R[],
      get: async <R>(sql: string, params: readonly SqlValue[] = []) => (await step({ kind: 'get', sql, params })).row as R | undefined,
      run: async (sql: string, params: readonly SqlValue[] = []) => ({ changes: (await step({ kind: 'run', sql, params })).changes ?? 0 }),
      transaction: () => Promise.reject(new Error('a transaction cannot be nested in another')),
    };
    let result: T;
    try {
      result = await fn(tx);
    } catch (err) {
      await this.writer.sql({ kind: 'end', txId: txId!, commit: false });
      throw err;
    }
    await this.writer.sql({ kind: 'end', txId: txId!, commit: true });
    return result;
  }
}
