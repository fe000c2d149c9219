import type { RefreshRun, RefreshRunStore, RefreshStatus, RefreshTrigger } from '../../ports/refresh-runs.js';
import type { SqlClient } from './sql-client.js';

interface RunRow {
  instance_id: string;
  id: string;
  status: string;
  trigger: string;
  started_at: number;
  finished_at: number | null;
  stages: string;
  counts: string;
  message: string | null;
}

const toRun = (r: RunRow): RefreshRun => ({
  instanceId: r.instance_id,
  id: r.id,
  status: r.status as RefreshStatus,
  trigger: r.trigger as RefreshTrigger,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  stages: JSON.parse(r.stages) as RefreshRun['stages'],
  counts: JSON.parse(r.counts) as RefreshRun['counts'],
  message: r.message,
});

const COLUMNS = 'instance_id, id, status, trigger, started_at, finished_at, stages, counts, message';

/** Refresh run history in SQL, the same on SQLite and PostgreSQL. */
export class SqlRefreshRunStore implements RefreshRunStore {
  constructor(private readonly db: SqlClient) {}

  async save(r: RefreshRun): Promise<void> {
    await this.db.run(
      `INSERT INTO refresh_runs (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (instance_id, id) DO UPDATE SET status = excluded.status, finished_at = excluded.finished_at, stages = excluded.stages,
         counts = excluded.counts, message = excluded.message`,
      [r.instanceId, r.id, r.status, r.trigger, r.startedAt, r.finishedAt, JSON.stringify(r.stages), JSON.stringify(r.counts), r.message],
    );
  }

  async get(instanceId: string, id: string): Promise<RefreshRun | undefined> {
    const row = await this.db.get<RunRow>(`SELECT ${COLUMNS} FROM refresh_runs WHERE instance_id = ? AND id = ?`, [instanceId, id]);
    return row && toRun(row);
  }

  async list(instanceId: string, limit: number, offset: number): Promise<RefreshRun[]> {
    return (await this.db.all<RunRow>(`SELECT ${COLUMNS} FROM refresh_runs WHERE instance_id = ? ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?`, [instanceId, limit, offset])).map(toRun);
  }

  async saveModel(instanceId: string, runId: string, model: unknown): Promise<void> {
    await this.db.run('UPDATE refresh_runs SET model = ? WHERE instance_id = ? AND id = ?', [JSON.stringify(model), instanceId, runId]);
  }

  async latestModel(instanceId: string): Promise<{ runId: string; model: unknown } | undefined> {
    const row = await this.db.get<{ id: string; model: string }>(
      "SELECT id, model FROM refresh_runs WHERE instance_id = ? AND status = 'success' AND model IS NOT NULL ORDER BY finished_at DESC, id DESC LIMIT 1",
      [instanceId],
    );
    return row && { runId: row.id, model: JSON.parse(row.model) as unknown };
  }

  async instancesRunning(): Promise<string[]> {
    return (await this.db.all<{ instance_id: string }>("SELECT DISTINCT instance_id FROM refresh_runs WHERE status = 'running' ORDER BY instance_id")).map((r) => r.instance_id);
  }

  async failInterrupted(instanceId: string, at: number): Promise<number> {
    const { changes } = await this.db.run(
      "UPDATE refresh_runs SET status = 'failed', finished_at = ?, message = 'the server stopped during the run; the published result is the previous one' WHERE instance_id = ? AND status = 'running'",
      [at, instanceId],
    );
    return changes;
  }
}
