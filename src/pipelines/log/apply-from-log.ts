import type { IngestionLog } from '../../ports/ingestion-log.js';
import type { ApplyOutcome, CommitWork } from '../records.js';
import { decodeLogEntry } from './log-entry.js';

type ApplyBatch = (works: readonly CommitWork[], positions: readonly [], now: number) => Promise<ApplyOutcome[][]>;

export interface PartitionApplierDeps {
  log: IngestionLog;
  applyBatch: ApplyBatch;
  /** Where the consumer stopped (its committed offset), read when it starts. */
  offset(consumer: string): Promise<number>;
  now(): number;
  /** Before a group: the catalog versions its records were prepared under, by instance (a copy older than that is loaded again). */
  freshen?(instanceId: string, catalogVersion: number): Promise<void>;
  /** Called after each applied group: how many messages, and the records' outcomes (`skipped`: applied before). */
  onApplied?(messages: number, outcomes: ApplyOutcome[][]): void;
}

export const partitionConsumer = (partition: number): string => `partition-${partition}`;

/** Messages taken per transaction from one partition. */
const GROUP_MESSAGES = 64;

/**
 * Applies one partition of the log in order, from where its committed offset says, until `signal`
 * aborts. Each group of messages is applied in one transaction that also moves the offset, so a
 * message is applied exactly once however often it is delivered (a worker that died, a partition
 * that moved). Entries an API node applied itself (`lakeOnly`) only move the offset.
 */
export async function applyPartition(deps: PartitionApplierDeps, partition: number, signal: AbortSignal): Promise<void> {
  const consumer = partitionConsumer(partition);
  const reader = await deps.log.reader(partition, (await deps.offset(consumer)) + 1);
  try {
    while (!signal.aborted) {
      const messages = await reader.next(GROUP_MESSAGES, 250);
      if (messages.length === 0 || signal.aborted) continue;
      const versions = new Map<string, number>();
      const works: CommitWork[] = messages.map((m) => {
        const e = decodeLogEntry(m.payload);
        if (e.catalogVersion !== undefined && !e.lakeOnly) versions.set(e.instanceId, Math.max(versions.get(e.instanceId) ?? 0, e.catalogVersion));
        return {
          instanceId: e.instanceId,
          records: e.lakeOnly ? [] : e.records,
          failed: e.lakeOnly ? [] : e.failed,
          lakePositions: [],
          logPosition: { consumer, seq: m.seq },
        };
      });
      for (const [instanceId, version] of versions) await deps.freshen?.(instanceId, version);
      const outcomes = await deps.applyBatch(works, [], deps.now());
      deps.onApplied?.(messages.length, outcomes);
    }
  } finally {
    await reader.close();
  }
}
