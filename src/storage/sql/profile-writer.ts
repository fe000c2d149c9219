import { TransactionConflict, type ProfileTx, type ProfileWriter } from '../../ports/profile-store.js';
import { SqlProfileTx } from './profile-tx.js';
import { SerialQueue } from './serial-queue.js';
import type { SqlClient } from './sql-client.js';

/** How often a transaction that lost a race to another writer is run again before giving up. */
const MAX_ATTEMPTS = 30;

/**
 * Profile state writes in portable SQL: each transaction on one connection of its own. One
 * transaction at a time in this process (the committer hands groups over in order). Other
 * processes (workers, API nodes) write at the same time: transactions are serializable, and one
 * that loses a race (a merge touching the same profiles) is run again from the start.
 */
export class SqlProfileWriter implements ProfileWriter {
  private readonly queue = new SerialQueue();

  constructor(private readonly db: SqlClient) {}

  transaction<T>(fn: (tx: ProfileTx) => Promise<T>): Promise<T> {
    return this.queue.run(async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.db.transaction((client) => fn(new SqlProfileTx(client)), { serializable: true });
        } catch (err) {
          if (!(err instanceof TransactionConflict) || attempt >= MAX_ATTEMPTS) throw err;
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt));
        }
      }
    });
  }

  close(): Promise<void> {
    return this.queue.idle();
  }
}
