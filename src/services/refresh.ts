import { Cron } from 'croner';
import type { Clock } from '../domain/clock.js';
import { conflict, invalid, notFound } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import type { UnificationConfig } from '../domain/unify/config.js';
import { configProblems } from '../domain/unify/validate-config.js';
import type { ControlStore } from '../ports/control-store.js';
import type { ClusterLock } from '../ports/cluster-lock.js';
import type { RefreshRun, RefreshRunStore, RefreshTrigger } from '../ports/refresh-runs.js';
import type { Catalog } from '../pipelines/ingest/catalog.js';
import type { RefreshResult } from '../pipelines/refresh/run-refresh.js';

/** Runs a refresh somewhere (the writer thread); `onStage` hears each stage as it starts. */
export type RefreshRunner = (instanceId: string, runId: string, config: UnificationConfig, now: number, onStage: (stage: string) => void) => Promise<RefreshResult>;

export const SCHEDULER_TICK_MS = 1000;

/**
 * Unification settings, refresh runs (one at a time per instance), their history, and the cron
 * schedule. Time comes from the clock, so schedules are testable.
 */
export class RefreshService {
  private readonly running = new Map<string, { run: RefreshRun; done: Promise<RefreshRun> }>();
  /** Next scheduled time per instance that has a schedule. */
  private readonly nextAt = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly finished: Array<(run: RefreshRun) => void> = [];

  constructor(
    private readonly deps: { control: ControlStore; runs: RefreshRunStore; catalog: Catalog; clock: Clock; runner: RefreshRunner; lock: ClusterLock },
  ) {}

  /** Marks runs a stopped process left behind as failed, and starts the scheduler. */
  async start(): Promise<void> {
    await this.failAbandoned();
    for (const instance of await this.deps.control.listInstances()) {
      const config = await this.deps.control.getUnificationConfig(instance.id);
      if (config) this.schedule(instance.id, config);
    }
    this.timer = setInterval(() => void this.tick(), SCHEDULER_TICK_MS);
    this.timer.unref();
  }

  /**
   * Marks failed the runs left `running` by a node that stopped: those of an instance whose
   * refresh lock is free (a node running one holds it), so that a run going on elsewhere is left
   * alone. At start, and from time to time on every node.
   */
  async failAbandoned(): Promise<number> {
    let failed = 0;
    for (const instanceId of await this.deps.runs.instancesRunning()) {
      if (this.running.has(instanceId)) continue;
      const release = await this.deps.lock.tryAcquire(`refresh:${instanceId}`);
      if (!release) continue;
      try {
        failed += await this.deps.runs.failInterrupted(instanceId, this.deps.clock.now());
      } finally {
        await release();
      }
    }
    return failed;
  }

  async getConfig(instanceId: string): Promise<UnificationConfig> {
    await this.catalogOf(instanceId);
    const config = await this.deps.control.getUnificationConfig(instanceId);
    if (!config) throw notFound('unification_not_configured', 'this instance has no unification settings yet; PUT them to manage/unification');
    return config;
  }

  async putConfig(instanceId: string, config: UnificationConfig): Promise<UnificationConfig> {
    const catalog = await this.catalogOf(instanceId);
    const problems = configProblems(config, catalog.datasetsByName);
    if (config.schedule) {
      try {
        new Cron(config.schedule.cron, { paused: true, ...(config.schedule.timezone ? { timezone: config.schedule.timezone } : {}) }).nextRun();
      } catch (err) {
        problems.push({ path: '/schedule', message: `not a valid cron schedule: ${(err as Error).message}` });
      }
    }
    if (problems.length > 0) throw invalid('invalid_unification_config', problems.map((p) => `${p.path}: ${p.message}`).join('; '), problems);
    await this.deps.control.putUnificationConfig(instanceId, config, this.deps.clock.now());
    this.deps.catalog.invalidate(instanceId);
    this.schedule(instanceId, config);
    return config;
  }

  /**
   * Starts a run now; 409 while one runs for the instance. `slot`: the scheduled time a scheduled
   * run is for; it runs once across the cluster (its id is the slot's, checked under the lock).
   */
  async trigger(instanceId: string, trigger: RefreshTrigger, slot?: number): Promise<{ run: RefreshRun; done: Promise<RefreshRun> }> {
    const config = await this.getConfig(instanceId);
    const current = this.running.get(instanceId);
    if (current) throw conflict('refresh_running', `a refresh of this instance is running (run ${current.run.id}); one runs at a time`, { runId: current.run.id });
    const run: RefreshRun = { instanceId, id: slot === undefined ? newId() : `schedule-${slot}`, status: 'running', trigger, startedAt: this.deps.clock.now(), finishedAt: null, stages: [], counts: {}, message: null };
    // Claimed before any await, so that two starts at once here cannot both pass the check above;
    // the cluster lock then keeps any other node from running this instance's refresh meanwhile.
    let start: (go: boolean) => void = () => undefined;
    let release: (() => Promise<void>) | undefined;
    const claimed = new Promise<boolean>((resolve) => (start = resolve));
    // The run counts as over (and shows its end state) only once its lock is free again, so that
    // a start made after seeing it end is never refused.
    const over = async (): Promise<void> => {
      await release?.();
      this.running.delete(instanceId);
    };
    const done = claimed
      .then((go) => (go ? this.execute(run, config) : run))
      .then(
        async (final) => {
          await over();
          return Object.assign(run, final);
        },
        async (err: unknown) => {
          await over();
          throw err;
        },
      );
    this.running.set(instanceId, { run, done });
    release = await this.deps.lock.tryAcquire(`refresh:${instanceId}`).catch((err: unknown) => {
      start(false);
      throw err;
    });
    if (!release) {
      start(false);
      await done;
      throw conflict('refresh_running', 'a refresh of this instance is running on another node; one runs at a time', {});
    }
    if (slot !== undefined && (await this.deps.runs.get(instanceId, run.id))) {
      start(false);
      await done;
      throw conflict('refresh_slot_done', `the refresh scheduled for ${new Date(slot).toISOString()} has run already (on another node)`, { runId: run.id });
    }
    try {
      await this.deps.runs.save(run);
    } catch (err) {
      start(false);
      throw err;
    }
    start(true);
    return { run, done };
  }

  async getRun(instanceId: string, runId: string): Promise<RefreshRun> {
    await this.catalogOf(instanceId);
    const live = this.running.get(instanceId);
    if (live?.run.id === runId) return live.run;
    const run = await this.deps.runs.get(instanceId, runId);
    if (!run) throw notFound('run_not_found', `refresh run ${runId} does not exist`);
    return run;
  }

  async listRuns(instanceId: string, limit: number, offset: number): Promise<RefreshRun[]> {
    await this.catalogOf(instanceId);
    const runs = await this.deps.runs.list(instanceId, limit, offset);
    const live = this.running.get(instanceId);
    return runs.map((r) => (live?.run.id === r.id ? live.run : r));
  }

  /** Called with every run that ends (metrics). */
  onFinished(listener: (run: RefreshRun) => void): void {
    this.finished.push(listener);
  }

  /** How many runs are in progress. */
  get runningCount(): number {
    return this.running.size;
  }

  /** When the instance's schedule fires next (ms), if it has one. */
  nextScheduled(instanceId: string): number | undefined {
    return this.nextAt.get(instanceId);
  }

  /** Starts the runs whose scheduled time has come (called every second; tests call it too). */
  async tick(): Promise<void> {
    const now = this.deps.clock.now();
    for (const [instanceId, at] of [...this.nextAt]) {
      if (at > now) continue;
      const config = await this.deps.control.getUnificationConfig(instanceId);
      if (config) this.schedule(instanceId, config, now);
      if (this.running.has(instanceId)) continue;
      await this.trigger(instanceId, 'schedule', at).catch(() => undefined);
    }
  }

  /** Waits for the runs in progress. */
  async idle(): Promise<void> {
    await Promise.all([...this.running.values()].map((r) => r.done));
  }

  /** Stops the scheduler and waits for the runs in progress (shutdown). */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.idle();
  }

  private schedule(instanceId: string, config: UnificationConfig, from = this.deps.clock.now()): void {
    if (!config.schedule) {
      this.nextAt.delete(instanceId);
      return;
    }
    const cron = new Cron(config.schedule.cron, { paused: true, ...(config.schedule.timezone ? { timezone: config.schedule.timezone } : {}) });
    const next = cron.nextRun(new Date(from));
    if (next) this.nextAt.set(instanceId, next.getTime());
    else this.nextAt.delete(instanceId);
  }

  /** Runs it; the live `run` shows its stages meanwhile, and the end state comes back as a copy. */
  private async execute(run: RefreshRun, config: UnificationConfig): Promise<RefreshRun> {
    const started = performance.now();
    let stageStarted = started;
    const final: RefreshRun = { ...run };
    // Progress saves go one after another, and all before the final one.
    let saving: Promise<unknown> = Promise.resolve();
    try {
      const result = await this.deps.runner(run.instanceId, run.id, config, this.deps.clock.now(), (stage) => {
        const now = performance.now();
        const last = run.stages[run.stages.length - 1];
        if (last) last.ms = Math.round(now - stageStarted);
        stageStarted = now;
        run.stages.push({ name: stage, ms: 0 });
        const snapshot = { ...run, stages: run.stages.map((s) => ({ ...s })) };
        saving = saving.then(() => this.deps.runs.save(snapshot)).catch(() => undefined);
      });
      Object.assign(final, { stages: result.stages, counts: result.counts, status: 'success' });
      if (result.model) await this.deps.runs.saveModel(run.instanceId, run.id, result.model);
    } catch (err) {
      const stages = run.stages.map((s) => ({ ...s }));
      const last = stages[stages.length - 1];
      if (last) last.ms = Math.round(performance.now() - stageStarted);
      Object.assign(final, { stages, status: 'failed', message: `${(err as Error).message}; the published profiles are unchanged` });
    }
    final.finishedAt = this.deps.clock.now();
    await saving;
    await this.deps.runs.save(final);
    for (const listener of this.finished) listener(final);
    return final;
  }

  private async catalogOf(instanceId: string) {
    const catalog = await this.deps.catalog.get(instanceId);
    if (!catalog) throw notFound('instance_not_found', `instance ${instanceId} does not exist`);
    return catalog;
  }
}
