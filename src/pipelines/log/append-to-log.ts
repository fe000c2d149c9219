import { newId } from '../../domain/ids.js';
import type { IngestionLog } from '../../ports/ingestion-log.js';
import type { CommitWork } from '../records.js';
import { toLogEntries } from './log-entry.js';

/**
 * Appends works to the ingestion log: one message per partition (and size chunk), appended in
 * order within a partition and in parallel across partitions; resolves once the log holds all of
 * them durably. `lakeOnly`: the works are applied by the caller; the log carries them to the lake.
 * `onAppended` hears of each message's partition, sequence number and number of records.
 */
export async function appendToLog(log: IngestionLog, works: readonly CommitWork[], lakeOnly: boolean, onAppended?: (partition: number, seq: number, records: number) => void): Promise<void> {
  const byPartition = new Map<number, Array<{ payload: string; records: number }>>();
  for (const { partition, payload, records } of toLogEntries(works, log.partitions, lakeOnly)) {
    const list = byPartition.get(partition) ?? [];
    list.push({ payload, records });
    byPartition.set(partition, list);
  }
  await Promise.all(
    [...byPartition].map(async ([partition, messages]) => {
      for (const { payload, records } of messages) {
        const seq = await log.append(partition, payload, newId());
        onAppended?.(partition, seq, records);
      }
    }),
  );
}
