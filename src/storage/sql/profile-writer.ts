import type { ProfileTx, ProfileWriter } from '../../ports/profile-store.js';
import { SqlProfileTx } from './profile-tx.js';
import type { SqlClient } from './sql-client.js';

/**
 * Profile state writes in portable SQL: each transaction on one connection of its own. One
 * transaction at a time in this process (the committer hands groups over in order).
 */
export class SqlProfileWriter implements ProfileWriter {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly db: SqlClient) {}

  transaction<T>(fn: (tx: ProfileTx) => Promise<T>): Promise<T> {
    const run = (): Promise<T> => this.db.transaction((client) => fn(new SqlProfileTx(client)));
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    await this.queue;
  }
}
