import type Database from 'better-sqlite3';
import type { ProfileTx, ProfileWriter } from '../../ports/profile-store.js';
import { SqliteProfileTx } from './profile-tx.js';
import { TransactionQueue } from './transaction-queue.js';

/** Profile state writes on SQLite: one connection, transactions run one at a time. */
export class SqliteProfileWriter implements ProfileWriter {
  private readonly tx: ProfileTx;
  private readonly transactions: TransactionQueue;

  constructor(db: Database.Database) {
    this.tx = new SqliteProfileTx(db);
    this.transactions = new TransactionQueue(db);
  }

  transaction<T>(fn: (tx: ProfileTx) => Promise<T>): Promise<T> {
    return this.transactions.run(() => fn(this.tx));
  }

  async close(): Promise<void> {
    await this.transactions.idle();
  }
}
