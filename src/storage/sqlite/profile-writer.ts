import type Database from 'better-sqlite3';
import type { ProfileTx, ProfileWriter } from '../../ports/profile-store.js';
import { SqliteProfileTx } from './profile-tx.js';
import { TransactionQueue } from './transaction-queue.js';

/** Profile state writes on SQLite: one connection, transactions run one at a time (in the connection's queue). */
export class SqliteProfileWriter implements ProfileWriter {
  private readonly tx: ProfileTx;

  constructor(
    db: Database.Database,
    private readonly transactions: TransactionQueue = new TransactionQueue(db),
  ) {
    this.tx = new SqliteProfileTx(db);
  }

  transaction<T>(fn: (tx: ProfileTx) => Promise<T>): Promise<T> {
    return this.transactions.run(() => fn(this.tx));
  }

  async close(): Promise<void> {
    await this.transactions.idle();
  }
}
