import type Database from 'better-sqlite3';
import type { ProfileReader, ProfileStore, ProfileTx } from '../../ports/profile-store.js';
import { SqliteProfileReader } from './profile-reader.js';
import { SqliteProfileTx } from './profile-tx.js';

/**
 * Profile state on SQLite: one writer connection (transactions run one at a time) and one
 * reader connection that sees the last committed state.
 */
export class SqliteProfileStore implements ProfileStore {
  readonly reader: ProfileReader;
  private readonly tx: ProfileTx;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly writer: Database.Database,
    private readonly readerDb: Database.Database,
  ) {
    this.tx = new SqliteProfileTx(writer);
    this.reader = new SqliteProfileReader(readerDb);
  }

  transaction<T>(fn: (tx: ProfileTx) => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      this.writer.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(this.tx);
        this.writer.exec('COMMIT');
        return result;
      } catch (err) {
        if (this.writer.inTransaction) this.writer.exec('ROLLBACK');
        throw err;
      }
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    await this.queue;
    this.readerDb.close();
    this.writer.close();
  }
}
