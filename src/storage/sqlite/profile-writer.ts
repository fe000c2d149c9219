import type Database from 'better-sqlite3';
import type { ProfileTx, ProfileWriter } from '../../ports/profile-store.js';
import { SqliteProfileTx } from './profile-tx.js';

/** Profile state writes on SQLite: one connection, transactions run one at a time. */
export class SqliteProfileWriter implements ProfileWriter {
  private readonly tx: ProfileTx;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly db: Database.Database) {
    this.tx = new SqliteProfileTx(db);
  }

  transaction<T>(fn: (tx: ProfileTx) => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(this.tx);
        this.db.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    await this.queue;
  }
}
