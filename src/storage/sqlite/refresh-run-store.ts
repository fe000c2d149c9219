import type Database from 'better-sqlite3';
import type { RefreshRun, RefreshRunStore, RefreshStatus, RefreshTrigger } from '../../ports/refresh-runs.js';

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

export class SqliteRefreshRunStore implements RefreshRunStore {
  private readonly upsert: Database.Statement;
  private readonly one: Database.Statement;
  private readonly page: Database.Statement;
  private readonly interrupt: Database.Statement;
  private readonly setModel: Database.Statement;
  private readonly lastModel: Database.Statement;

  constructor(db: Database.Database) {
    this.upsert = db.prepare(
      `INSERT INTO refresh_runs (instance_id, id, status, trigger, started_at, finished_at, stages, counts, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (instance_id, id) DO UPDATE SET status = excluded.status, finished_at = excluded.finished_at, stages = excluded.stages,
         counts = excluded.counts, message = excluded.message`,
    );
    this.one = db.prepare('SELECT * FROM refresh_runs WHERE instance_id = ? AND id = ?');
    this.page = db.prepare('SELECT * FROM refresh_runs WHERE instance_id = ? ORDER BY started_at DESC, id DESC LIMIT ? OFFSET ?');
    this.setModel = db.prepare('UPDATE refresh_runs SET model = ? WHERE instance_id = ? AND id = ?');
    this.lastModel = db.prepare("SELECT id, model FROM refresh_runs WHERE instance_id = ? AND status = 'success' AND model IS NOT NULL ORDER BY finished_at DESC, id DESC LIMIT 1");
    this.interrupt = db.prepare("UPDATE refresh_runs SET status = 'failed', finished_at = ?, message = 'the server stopped during the run; the published result is the previous one' WHERE status = 'running'");
  }

  async save(r: RefreshRun): Promise<void> {
    this.upsert.run(r.instanceId, r.id, r.status, r.trigger, r.startedAt, r.finishedAt, JSON.stringify(r.stages), JSON.stringify(r.counts), r.message);
  }

  async get(instanceId: string, id: string): Promise<RefreshRun | undefined> {
    const row = this.one.get(instanceId, id) as RunRow | undefined;
    return row && toRun(row);
  }

  async list(instanceId: string, limit: number, offset: number): Promise<RefreshRun[]> {
    return (this.page.all(instanceId, limit, offset) as RunRow[]).map(toRun);
  }

  async saveModel(instanceId: string, runId: string, model: unknown): Promise<void> {
    this.setModel.run(JSON.stringify(model), instanceId, runId);
  }

  async latestModel(instanceId: string): Promise<{ runId: string; model: unknown } | undefined> {
    const row = this.lastModel.get(instanceId) as { id: string; model: string } | undefined;
    return row && { runId: row.id, model: JSON.parse(row.model) as unknown };
  }

  async failInterrupted(at: number): Promise<number> {
    return this.interrupt.run(at).changes;
  }
}
