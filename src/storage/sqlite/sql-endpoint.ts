import type { SqlAnswer, SqlRequest, SqlStep } from './sql-protocol.js';
import type { SqliteClient } from './sqlite-client.js';
import type { TransactionQueue } from './transaction-queue.js';

/** Ends a transaction opened for another thread without committing it. */
class RolledBack extends Error {}

/**
 * The writer thread's end of the main thread's SQL (see `RoutedSqliteClient`): statements and
 * transactions run on the writer's connection, in its transaction queue with the group commits,
 * so that the main thread never waits for SQLite's write lock.
 */
export class SqlEndpoint {
  private readonly open = new Map<number, { finish(commit: boolean): void; settled: Promise<void> }>();
  private nextTx = 1;

  constructor(
    private readonly client: SqliteClient,
    private readonly queue: TransactionQueue,
  ) {}

  async handle(request: SqlRequest): Promise<SqlAnswer> {
    switch (request.kind) {
      case 'statement':
        return this.queue.run(() => this.exec(request.step));
      case 'begin':
        return { txId: await this.begin() };
      case 'step':
        if (!this.open.has(request.txId)) throw new Error(`transaction ${request.txId} is not open`);
        return this.exec(request.step);
      case 'end': {
        const tx = this.open.get(request.txId);
        if (!tx) throw new Error(`transaction ${request.txId} is not open`);
        this.open.delete(request.txId);
        tx.finish(request.commit);
        await tx.settled.catch((err: unknown) => {
          if (!(err instanceof RolledBack)) throw err;
        });
        return {};
      }
    }
  }

  /** Opens a transaction in the queue: it holds its place until `end`; resolves once it has begun. */
  private begin(): Promise<number> {
    const txId = this.nextTx++;
    return new Promise((begun, failed) => {
      let started = false;
      let finish: (commit: boolean) => void = () => undefined;
      const settled = this.queue.run(
        () =>
          new Promise<void>((resolve, reject) => {
            finish = (commit) => (commit ? resolve() : reject(new RolledBack()));
            started = true;
            begun(txId);
          }),
      );
      // It could not begin (SQLite's lock stayed taken past the busy timeout): the caller hears so.
      settled.catch((err: unknown) => {
        if (started) return;
        this.open.delete(txId);
        failed(err);
      });
      this.open.set(txId, { finish: (commit) => finish(commit), settled });
    });
  }

  private async exec(step: SqlStep): Promise<SqlAnswer> {
    if (step.kind === 'run') return { changes: (await this.client.run(step.sql, step.params)).changes };
    if (step.kind === 'get') return { row: await this.client.get(step.sql, step.params) };
    return { rows: await this.client.all(step.sql, step.params) };
  }
}
