import type { Lake, LakePosition } from '../../ports/lake.js';
import type { ApplyOutcome, CommitWork } from '../records.js';
import { toLakeEntry } from '../records.js';

interface Pending {
  work: CommitWork;
  /** Whether the records are already in the lake (replay): then they are only applied. */
  inLake: boolean;
  positions?: LakePosition[];
  resolve: (outcomes: ApplyOutcome[]) => void;
  reject: (err: unknown) => void;
}

export interface CommitterOptions {
  /** Most records in one group commit. */
  maxBatchRecords: number;
  /** Group commits in flight at once (lake write of one overlaps the apply of the previous). */
  maxInFlight: number;
}

export type ApplyBatch = (works: readonly CommitWork[], positions: ReadonlyArray<LakePosition | undefined>) => Promise<ApplyOutcome[][]>;

/**
 * Group commit. Works queue up; each group is written to the lake and made durable, then applied
 * in one transaction, and only then are its callers answered. Groups are applied in the order
 * they were queued, so one person's records are applied in arrival order.
 */
export class Committer {
  private queue: Pending[] = [];
  private inFlight = 0;
  private scheduled = false;
  private closed = false;
  private idleWaiters: Array<() => void> = [];
  private applyChain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly lake: Lake,
    private readonly applyBatch: ApplyBatch,
    private readonly options: CommitterOptions,
  ) {}

  /** Makes the work durable and applies it; resolves with one outcome per record. */
  submit(work: CommitWork): Promise<ApplyOutcome[]> {
    return this.enqueue(work, false);
  }

  /** Applies records already in the lake (recovery and rebuild). */
  replay(work: CommitWork, positions: LakePosition[]): Promise<ApplyOutcome[]> {
    return this.enqueue(work, true, positions);
  }

  get depth(): number {
    return this.queue.length;
  }

  private enqueue(work: CommitWork, inLake: boolean, positions?: LakePosition[]): Promise<ApplyOutcome[]> {
    if (this.closed) return Promise.reject(new Error('committer is closed'));
    return new Promise<ApplyOutcome[]>((resolve, reject) => {
      const pending: Pending = { work, inLake, resolve, reject };
      if (positions) pending.positions = positions;
      this.queue.push(pending);
      this.schedule();
    });
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
    while (this.queue.length > 0 && this.inFlight < this.options.maxInFlight) {
      const group: Pending[] = [];
      let records = 0;
      while (this.queue.length > 0) {
        const next = this.queue[0]!;
        const n = next.work.records.length + next.work.failed.length;
        if (group.length > 0 && records + n > this.options.maxBatchRecords) break;
        group.push(this.queue.shift()!);
        records += n;
      }
      this.inFlight++;
      void this.commit(group).finally(() => {
        this.inFlight--;
        if (this.queue.length > 0) this.schedule();
        else if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
    }
  }

  private async commit(group: Pending[]): Promise<void> {
    let positions: Array<LakePosition | undefined>;
    try {
      const toWrite = group.filter((p) => !p.inLake).flatMap((p) => p.work.records.map(toLakeEntry));
      const written = toWrite.length > 0 ? await this.lake.append(toWrite) : [];
      positions = [];
      let w = 0;
      for (const p of group) {
        if (p.inLake) positions.push(...p.work.records.map((_, i) => p.positions?.[i]));
        else for (let i = 0; i < p.work.records.length; i++) positions.push(written[w++]);
      }
    } catch (err) {
      for (const p of group) p.reject(err);
      return;
    }
    const applied = this.applyChain.then(() => this.applyBatch(group.map((p) => p.work), positions));
    this.applyChain = applied.catch(() => undefined);
    try {
      const results = await applied;
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
