import type { Clock } from '../domain/clock.js';
import type { Batch, BatchStore } from '../ports/batch-store.js';

const keyOf = (instanceId: string, id: string): string => `${instanceId}/${id}`;

/**
 * The counts of the batches this node is processing. Reads on this node see them at once; the
 * store gets them at most every `persistEveryMs` (for other nodes and after a restart). On the
 * embedded backend a write from the HTTP thread waits for the writer's transaction to end, so one
 * after every applied chunk held the whole import back.
 */
export class BatchProgress {
  private readonly live = new Map<string, Batch>();
  private readonly persistedAt = new Map<string, number>();

  constructor(
    private readonly store: BatchStore,
    private readonly clock: Clock,
    private readonly persistEveryMs: number,
  ) {}

  /** The batch as processing left it last, if this node is processing it. */
  of(instanceId: string, id: string): Batch | undefined {
    return this.live.get(keyOf(instanceId, id));
  }

  /** Records the batch's progress; writes it to the store when the last write is old enough. */
  async report(b: Batch): Promise<void> {
    const key = keyOf(b.instanceId, b.id);
    this.live.set(key, b);
    const now = this.clock.now();
    const last = this.persistedAt.get(key);
    if (last !== undefined && now - last < this.persistEveryMs) return;
    this.persistedAt.set(key, now);
    await this.store.update(b);
  }

  /** Processing ended (its final state is in the store): reads go to the store again. */
  end(instanceId: string, id: string): void {
    this.live.delete(keyOf(instanceId, id));
    this.persistedAt.delete(keyOf(instanceId, id));
  }
}
