import { TransactionConflict, type ProfileTx, type ProfileWriter } from '../../ports/profile-store.js';
import { SqlProfileTx, type Predecessor } from './profile-tx.js';
import type { SqlClient } from './sql-client.js';

/** How often a transaction that lost a race to another writer is run again before giving up. */
const MAX_ATTEMPTS = 30;

/**
 * A transaction's commit as the next one sees it: its promise, and whether it has ended. Made
 * apart from `once`: a closure made there would hold `once`'s whole scope, its own predecessor
 * among it, and so every transaction's handed-over state back to the last time the writer was
 * idle (a worker under steady load at 200,000 people held 466 MB live midway, against 263 MB).
 */
function commitSignal(): Pick<Predecessor, 'committed' | 'ended'> & { settle: { resolve(): void; reject(err: unknown): void } } {
  let settle!: { resolve(): void; reject(err: unknown): void };
  let ended = false;
  const committed = new Promise<void>((resolve, reject) => (settle = { resolve, reject })).finally(() => (ended = true));
  committed.catch(() => undefined); // a successor that waits on it hears of a failure; nobody else need
  return { committed, ended: () => ended, settle };
}

/**
 * Profile state writes in portable SQL, each transaction on one connection of its own. Other
 * processes (workers, API nodes) write at the same time: a transaction locks the profiles it
 * writes to (in id order; see SqlProfileTx), and one that loses a race (a profile merged away
 * under it, an identity added first by another, a deadlock) is run again from the start.
 *
 * A writer's transactions run one after another, in the order they were asked for. With
 * `overlap` (a scale-out worker's writer) two of them overlap: while one writes its rows and
 * commits, the next reads ahead and works through its records, starting from what the first wrote
 * (it writes nothing, and commits, until the first has committed). Half of a worker's group time
 * is its reads and its records' work, half its writes, and one at a time left the worker idle
 * while PostgreSQL wrote and PostgreSQL idle while the worker worked. A third waits until the
 * second is writing. A transaction whose writes the next cannot start from (a refresh, a delete, a
 * savepoint rolled back) hands over only once it has ended. An API node's writer does not overlap:
 * its thread also serves HTTP, and there overlapping cost more CPU than it saved (about 3% fewer
 * messages a second, alternated A/B).
 */
export class SqlProfileWriter implements ProfileWriter {
  /** Resolves, for the next transaction, with what the last one asked for hands over (undefined once it has ended). */
  private handover: Promise<Predecessor | undefined> = Promise.resolve(undefined);
  private readonly running = new Set<Promise<unknown>>();
  /** Transactions run again after losing a race (for metrics). */
  retried = 0;

  constructor(
    private readonly db: SqlClient,
    private readonly options: { overlap?: boolean } = {},
  ) {}

  transaction<T>(fn: (tx: ProfileTx) => Promise<T>): Promise<T> {
    const run = this.attempt(fn);
    this.running.add(run);
    const forget = (): void => void this.running.delete(run);
    run.then(forget, forget);
    return run;
  }

  private async attempt<T>(fn: (tx: ProfileTx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(fn);
      } catch (err) {
        if (!(err instanceof TransactionConflict) || attempt >= MAX_ATTEMPTS) throw err;
        this.retried++;
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
      }
    }
  }

  /** One run of the transaction, after the one before has handed over (or ended). */
  private async once<T>(fn: (tx: ProfileTx) => Promise<T>): Promise<T> {
    const before = this.handover;
    let handOver!: (p: Predecessor | undefined) => void;
    this.handover = new Promise((resolve) => (handOver = resolve));
    const { committed, ended, settle } = commitSignal();
    try {
      const handed = await before;
      // One that has ended meanwhile (committed or not, a failed run of this very transaction among them) is not started from.
      const predecessor = handed && !handed.ended() ? handed : undefined;
      const result = await this.db.transaction(async (client) => {
        const tx = new SqlProfileTx(client, { predecessor, handsOn: this.options.overlap === true });
        const value = await fn(tx);
        await tx.gate();
        const carried = tx.carry();
        if (carried) handOver({ carried, committed, ended });
        await tx.flush();
        return value;
      });
      settle.resolve();
      return result;
    } catch (err) {
      settle.reject(err);
      throw err;
    } finally {
      handOver(undefined); // ended: the next starts on its own (a second call is a no-op)
    }
  }

  async close(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }
}
