import type Database from 'better-sqlite3';
import type { SqlClient, SqlValue } from '../sql/sql-client.js';
import { TransactionQueue } from './transaction-queue.js';

/**
 * SqlClient on a better-sqlite3 connection: each statement prepared once, calls synchronous
 * underneath. Clients of one connection share its transaction queue (`transactions`).
 */
export class SqliteClient implements SqlClient {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(
    private readonly db: Database.Database,
    private readonly transactions: TransactionQueue = new TransactionQueue(db),
  ) {}

  private statement(sql: string): Database.Statement {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      stmt = this.db.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }

  async all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return this.statement(sql).all(...params) as T[];
  }

  async get<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return this.statement(sql).get(...params) as T | undefined;
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    return { changes: this.statement(sql).run(...params).changes };
  }

  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return this.transactions.run(() => fn(this));
  }
}
