import type { IngestionLog } from '../../ports/ingestion-log.js';
import type { Lake } from '../../ports/lake.js';
import { toLakeLine } from '../records.js';
import { decodeLogEntry } from './log-entry.js';

export const LAKE_CONSUMER = 'lake';

export interface LakeWriterDeps {
  log: IngestionLog;
  lake: Lake;
  offset(): Promise<number>;
  setOffset(seq: number): Promise<void>;
  onWritten?(records: number): void;
}

/**
 * The lake writer of the scale-out mode: reads every partition of the log in order and appends
 * each accepted record (applied by a worker or by an API node) to the lake, durably, before it
 * moves its offset. A writer that dies between the two leaves records that the next one writes
 * again: the lake may then hold a record twice (same record id), which replay applies as one.
 */
export async function writeLakeFromLog(deps: LakeWriterDeps, signal: AbortSignal): Promise<void> {
  const reader = await deps.log.reader('all', (await deps.offset()) + 1);
  try {
    while (!signal.aborted) {
      const messages = await reader.next(256, 250);
      if (messages.length === 0 || signal.aborted) continue;
      const lines = messages.flatMap((m) => decodeLogEntry(m.payload).records.map(toLakeLine));
      if (lines.length > 0) await deps.lake.append(lines);
      await deps.setOffset(messages[messages.length - 1]!.seq);
      deps.onWritten?.(lines.length);
    }
  } finally {
    await reader.close();
  }
}
