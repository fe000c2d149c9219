import type { SqlClient } from './sql-client.js';

/** The scale-out log's shared state in the database: consumer offsets and the live workers. */
export class SqlLogStateStore {
  constructor(private readonly db: SqlClient) {}

  async offset(consumer: string): Promise<number> {
    return (await this.db.get<{ seq: number }>('SELECT seq FROM log_offsets WHERE consumer = ?', [consumer]))?.seq ?? 0;
  }

  async offsets(): Promise<Map<string, number>> {
    return new Map((await this.db.all<{ consumer: string; seq: number }>('SELECT consumer, seq FROM log_offsets')).map((r) => [r.consumer, r.seq]));
  }

  async setOffset(consumer: string, seq: number): Promise<void> {
    await this.db.run('INSERT INTO log_offsets (consumer, seq) VALUES (?, ?) ON CONFLICT (consumer) DO UPDATE SET seq = excluded.seq WHERE log_offsets.seq < excluded.seq', [consumer, seq]);
  }

  async heartbeat(workerId: string, at: number, partitions: readonly number[]): Promise<void> {
    await this.db.run('INSERT INTO log_workers (id, seen_at, partitions) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at, partitions = excluded.partitions', [workerId, at, JSON.stringify(partitions)]);
  }

  /** Workers seen since `since` (ms); older rows are removed. */
  async liveWorkers(since: number): Promise<number> {
    await this.db.run('DELETE FROM log_workers WHERE seen_at < ?', [since]);
    return (await this.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM log_workers'))?.n ?? 0;
  }

  async leave(workerId: string): Promise<void> {
    await this.db.run('DELETE FROM log_workers WHERE id = ?', [workerId]);
  }
}
