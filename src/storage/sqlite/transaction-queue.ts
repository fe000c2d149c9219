import type Database from 'better-sqlite3';

/**
 * Async transactions on one SQLite connection, one at a time (a second BEGIN on the connection
 * would fail): each waits for the one before, and rolls back if its function throws.
 */
export class TransactionQueue {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly db: Database.Database) {}

  run<T>(fn: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn();
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

  /** Resolves once every queued transaction has ended. */
  async idle(): Promise<void> {
    await this.queue;
  }
}
