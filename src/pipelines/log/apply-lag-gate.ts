import { TesseraError } from '../../domain/errors.js';
import { partitionConsumer } from './apply-from-log.js';

export interface ApplyLagGateOptions {
  readonly partitions: number;
  /** The oldest message this node appended that the workers have not applied may be at most this old (ms) when more is taken. */
  readonly maxLagMs: number;
  /** Each partition applier's offset (consumer → the last sequence number it applied). */
  readonly appliedOffsets: () => Promise<ReadonlyMap<string, number>>;
}

/** How stale the applied offsets may be when the gate decides (one read of them at most this often). */
const REFRESH_MS = 50;
/** The apply rate is measured over windows at least this long, while there is a backlog. */
const RATE_WINDOW_MS = 500;

/**
 * Keeps streaming ingestion in the scale-out mode fresh: a record acknowledged is visible on the
 * profile API within about `maxLagMs`. Before this node appends to the log, it waits while the
 * oldest message it appended and the workers have not yet applied is older than the bound, or
 * while what it appended and they have not applied would take them longer than the bound at the
 * rate they have been applying it; it refuses (503, Retry-After) when they do not catch up within
 * twice the bound (at least a second). The producers are paced to what the workers apply instead
 * of the backlog (and the time to visible) growing until the log's limit.
 *
 * Lag is operational time (`performance.now()`), not the domain clock: it measures this machine's
 * work, and a test's controllable clock must not stop it.
 */
export class ApplyLagGate {
  /** Per partition, what this node appended and the workers had not applied when last looked: sequence numbers in order, with when and how many records. */
  private readonly unapplied: Array<Array<{ seq: number; at: number; records: number }>>;
  private unappliedRecords = 0;
  private offsetsReadAt = -Infinity;
  private reading: Promise<void> | undefined;
  /** Records a second the workers applied of this node's, measured while there was a backlog (0: not yet known). */
  private applyRate = 0;
  private window = { start: -1, records: 0 };

  constructor(private readonly options: ApplyLagGateOptions) {
    this.unapplied = Array.from({ length: options.partitions }, () => []);
  }

  /** Notes a message of `records` records this node appended (appends to one partition come in sequence order). */
  appended(partition: number, seq: number, records: number): void {
    this.unapplied[partition]!.push({ seq, at: performance.now(), records });
    this.unappliedRecords += records;
  }

  /** How far behind the workers are (ms): the age of this node's oldest unapplied message, 0 when none. */
  async lagMs(): Promise<number> {
    await this.refresh();
    const now = performance.now();
    let lag = 0;
    for (const list of this.unapplied) if (list.length > 0) lag = Math.max(lag, now - list[0]!.at);
    return lag;
  }

  /**
   * How long the last of `records` more records appended now would wait (ms): the age of the
   * oldest unapplied message, or what is unapplied with them at the apply rate measured, whichever
   * is longer.
   */
  private async expectedWaitMs(records: number): Promise<number> {
    const lag = await this.lagMs();
    return this.applyRate > 0 ? Math.max(lag, ((this.unappliedRecords + records) / this.applyRate) * 1000) : lag;
  }

  /**
   * Resolves when `records` more may be appended (always when nothing of this node's is unapplied);
   * throws `apply_behind` (503) when the workers stay behind for twice the bound (at least a second).
   */
  async admit(records: number): Promise<void> {
    const deadline = performance.now() + Math.max(1000, 2 * this.options.maxLagMs);
    for (;;) {
      if ((await this.expectedWaitMs(records)) <= this.options.maxLagMs || this.unappliedRecords === 0) return;
      if (performance.now() >= deadline) {
        throw new TesseraError(
          'unavailable',
          'apply_behind',
          `the workers are more than ${this.options.maxLagMs} ms behind the ingestion log (the bound set by --max-apply-lag); retry after the time Retry-After gives`,
          { retryAfterSeconds: 1 },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, REFRESH_MS));
    }
  }

  private refresh(): Promise<void> {
    if (performance.now() - this.offsetsReadAt < REFRESH_MS) return Promise.resolve();
    this.reading ??= this.options
      .appliedOffsets()
      .then((offsets) => {
        const now = performance.now();
        this.offsetsReadAt = now;
        let applied = 0;
        this.unapplied.forEach((list, p) => {
          const upTo = offsets.get(partitionConsumer(p)) ?? 0;
          let n = 0;
          while (n < list.length && list[n]!.seq <= upTo) applied += list[n++]!.records;
          if (n > 0) list.splice(0, n);
        });
        this.unappliedRecords -= applied;
        this.measureRate(now, applied);
      })
      // Offsets that cannot be read now count as unmoved: the lag grows, and past the bound the
      // requests are refused with 503, not failed.
      .catch(() => undefined)
      .finally(() => {
        this.reading = undefined;
      });
    return this.reading;
  }

  private measureRate(now: number, applied: number): void {
    if (this.window.start < 0) {
      // A window opens when there is a backlog to be applied (an idle worker's rate is not seen).
      if (this.unappliedRecords > 0) this.window = { start: now, records: 0 };
      return;
    }
    this.window.records += applied;
    const elapsed = now - this.window.start;
    if (elapsed < RATE_WINDOW_MS) return;
    const rate = (this.window.records / elapsed) * 1000;
    this.applyRate = this.applyRate > 0 ? (this.applyRate + rate) / 2 : rate;
    this.window = this.unappliedRecords > 0 ? { start: now, records: 0 } : { start: -1, records: 0 };
  }
}
