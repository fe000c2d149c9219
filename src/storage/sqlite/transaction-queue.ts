import type Database from 'better-sqlite3';
import { SerialQueue } from '../sql/serial-queue.js';

/**
 * Async transactions on one SQLite connection, one at a time (a second BEGIN on the connection
 * would fail): each waits for the one before, and rolls back if its function throws.
 */
export class TransactionQueue {
  private readonly queue = new SerialQueue();

  constructor(private readonly db: Database.Database) {}

  run<T>(fn: () => Promise<T>): Promise<T> {
    return this.queue.run(async (): Promise<T> => {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn();
        this.db.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    });
  }

  /** Resolves once every queued transaction has ended. */
  idle(): Promise<void> {
    return this.queue.idle();
  }
}
