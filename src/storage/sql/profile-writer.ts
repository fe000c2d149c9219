import { TransactionConflict, type ProfileTx, type ProfileWriter } from '../../ports/profile-store.js';
import { SqlProfileTx } from './profile-tx.js';
import { SerialQueue } from './serial-queue.js';
import type { SqlClient } from './sql-client.js';

/** How often a transaction that lost a race to another writer is run again before giving up. */
const MAX_ATTEMPTS = 30;
/** The profile tables are analyzed after this process has added this many rows, then each time it has doubled what it added. */
const FIRST_ANALYZE_ROWS = 1000;

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
  private rowsAdded = 0;
  private analyzeAt = FIRST_ANALYZE_ROWS;
  private analyzing = false;

  constructor(private readonly db: SqlClient) {}

  transaction<T>(fn: (tx: ProfileTx) => Promise<T>): Promise<T> {
    return this.queue.run(() => this.attempt(fn));
  }

  private async attempt<T>(fn: (tx: ProfileTx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        let added = 0;
        const result = await this.db.transaction(async (client) => {
          const tx = new SqlProfileTx(client);
          const result = await fn(tx);
          await tx.flush();
          added = tx.rowsAdded;
          return result;
        });
        this.added(added);
        return result;
      } catch (err) {
        if (!(err instanceof TransactionConflict) || attempt >= MAX_ATTEMPTS) throw err;
        this.retried++;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
      }
    }
  }

  /**
   * Keeps the planner's statistics near the tables' size while they grow fast (a first load):
   * autovacuum looks once a minute, and until then the lookups of a group by key are planned for
   * the tiny tables of the last analysis (a hash join over every row of the instance, growing with
   * the table, instead of an index probe a key). Analyzed in the background, each time what this
   * process added has doubled.
   */
  private added(rows: number): void {
    this.rowsAdded += rows;
    if (this.rowsAdded < this.analyzeAt || this.analyzing) return;
    this.analyzing = true;
    this.analyzeAt = this.rowsAdded * 2;
    void this.db
      .run('ANALYZE profiles, identities, fragments, activities')
      .catch(() => undefined)
      .finally(() => {
        this.analyzing = false;
      });
  }

  close(): Promise<void> {
    return this.queue.idle();
  }
}
