import type { ProfileTx, ProfileWriter } from '../../ports/profile-store.js';
import { SqlProfileTx } from './profile-tx.js';
import { SerialQueue } from './serial-queue.js';
import type { SqlClient } from './sql-client.js';

/**
 * Profile state writes in portable SQL: each transaction on one connection of its own. One
 * transaction at a time in this process (the committer hands groups over in order).
 */
export class SqlProfileWriter implements ProfileWriter {
  private readonly queue = new SerialQueue();

  constructor(private readonly db: SqlClient) {}

  transaction<T>(fn: (tx: ProfileTx) => Promise<T>): Promise<T> {
    return this.queue.run(() => this.db.transaction((client) => fn(new SqlProfileTx(client))));
  }

  close(): Promise<void> {
    return this.queue.idle();
  }
}
