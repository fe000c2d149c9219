import { TransactionConflict, type ProfileTx, type ProfileWriter } from '../../ports/profile-store.js';
import { SqlProfileTx } from './profile-tx.js';
import { SerialQueue } from './serial-queue.js';
import type { SqlClient } from './sql-client.js';

/** How often a transaction that lost a race to another writer is run again before giving up. */
const MAX_ATTEMPTS = 30;

/**
 * Profile state writes in portable SQL: each transaction on one connection of its own, one at a
 * time in this process (the committer hands groups over in order). Other processes (workers, API
 * nodes) write at the same time: a transaction locks the profiles it writes to (in id order; see
 * SqlProfileTx), and one that loses a race (a profile merged away under it, an identity added
 * first by another, a deadlock) is run again from the start.
 */
export class SqlProfileWriter implements ProfileWriter {
  private readonly queue = new SerialQueue();
  /** Transactions run again after losing a race (for metrics). */
  retried = 0;

  constructor(private readonly db: SqlClient) {}

  transaction<T>(fn: (tx: ProfileTx) => Promise<T>): Promise<T> {
    return this.queue.run(() => this.attempt(fn));
  }

  private async attempt<T>(fn: (tx: ProfileTx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction(async (client) => {
          const tx = new SqlProfileTx(client);
          const result = await fn(tx);
          await tx.flush();
          return result;
        });
      } catch (err) {
        if (!(err instanceof TransactionConflict) || attempt >= MAX_ATTEMPTS) throw err;
        this.retried++;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
      }
    }
  }

  close(): Promise<void> {
    return this.queue.idle();
  }
}
