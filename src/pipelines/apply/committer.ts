import type { Clock } from '../../domain/clock.js';
import type { LakePosition } from '../../ports/lake.js';
import type { ApplyOutcome, CommitWork } from '../records.js';

interface Pending {
  /** Undefined while the request that reserved this place is still preparing its records. */
  work: CommitWork | undefined;
  resolve: (outcomes: ApplyOutcome[]) => void;
  reject: (err: unknown) => void;
}

export interface CommitterOptions {
  /** Most records in one group commit. */
  maxBatchRecords: number;
  /** Group commits handed to the writer at once (it applies them one after another, in order, and syncs the next to the lake meanwhile). */
  maxInFlight: number;
}

/** Makes a group of works durable (lake) and applies it (one transaction); one outcome list per work. */
export type CommitBatch = (works: readonly CommitWork[], now: number) => Promise<ApplyOutcome[][]>;

/**
 * Group commit. Works queue up and are handed to the writer in groups; each group is written to
 * the lake and made durable, then applied in one transaction, and only then are its callers
 * answered. Groups are committed in the order they were queued, so one person's records are
 * applied in arrival order.
 */
export class Committer {
  private queue: Pending[] = [];
  private inFlight = 0;
  private scheduled = false;
  private closed = false;
  private idleWaiters: Array<() => void> = [];
  private readonly listeners: Array<(works: readonly CommitWork[], outcomes: ApplyOutcome[][], seconds: number) => void> = [];

  constructor(
    private readonly commitBatch: CommitBatch,
    private readonly clock: Clock,
    private readonly options: CommitterOptions,
  ) {}

  /** Makes the work durable and applies it; resolves with one outcome per record. */
  submit(work: CommitWork): Promise<ApplyOutcome[]> {
    return this.reserve()(work);
  }

  /**
   * Takes a place in the commit order now, for work that is still being prepared: nothing queued
   * after it is committed before it. Call the returned function with the work (or with empty work
   * to give the place up).
   */
  reserve(): (work: CommitWork) => Promise<ApplyOutcome[]> {
    if (this.closed) throw new Error('committer is closed');
    let pending!: Pending;
    const done = new Promise<ApplyOutcome[]>((resolve, reject) => {
      pending = { work: undefined, resolve, reject };
    });
    this.queue.push(pending);
    return (work) => {
      pending.work = work;
      this.schedule();
      return done;
    };
  }

  /** Applies records that are already in the lake at these positions (recovery and rebuild). */
  replay(work: CommitWork, positions: LakePosition[]): Promise<ApplyOutcome[]> {
    return this.submit({ ...work, lakePositions: positions });
  }

  /** Called after every group commit (for metrics). */
  onCommitted(listener: (works: readonly CommitWork[], outcomes: ApplyOutcome[][], seconds: number) => void): void {
    this.listeners.push(listener);
  }

  get depth(): number {
    return this.queue.length;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0 && this.queue[0]!.work !== undefined && this.inFlight < this.options.maxInFlight) {
      const group: Pending[] = [];
      let records = 0;
      while (this.queue.length > 0) {
        const next = this.queue[0]!;
        if (next.work === undefined) break;
        const n = next.work.records.length + next.work.failed.length;
        if (group.length > 0 && records + n > this.options.maxBatchRecords) break;
        group.push(this.queue.shift()!);
        records += n;
      }
      this.inFlight++;
      void this.commit(group).finally(() => {
        this.inFlight--;
        if (this.queue.length > 0 && this.queue[0]!.work !== undefined) this.schedule();
        else if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
    }
  }

  private async commit(all: Pending[]): Promise<void> {
    const group: Pending[] = [];
    for (const p of all) {
      if (p.work!.records.length === 0 && p.work!.failed.length === 0) p.resolve([]);
      else group.push(p);
    }
    if (group.length === 0) return;
    try {
      const started = performance.now();
      const works = group.map((p) => p.work!);
      const results = await this.commitBatch(works, this.clock.now());
      const seconds = (performance.now() - started) / 1000;
      for (const l of this.listeners) l(works, results, seconds);
      group.forEach((p, i) => p.resolve(results[i]!));
    } catch (err) {
      for (const p of group) p.reject(err);
    }
  }

  /** Resolves once everything queued so far is committed. */
  drain(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    await this.drain();
    this.closed = true;
  }
}
