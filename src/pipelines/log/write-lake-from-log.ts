import type { IngestionLog, LogReader } from '../../ports/ingestion-log.js';
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
  /** Runs between two appends (lake upkeep: it must not meet an append in flight). */
  between?(): Promise<void>;
}

/** Appends the reader's next messages to the lake, durably, then moves the offset; the last sequence number written, or undefined when none came. */
async function writeNext(deps: LakeWriterDeps, reader: LogReader): Promise<number | undefined> {
  const messages = await reader.next(256, 250);
  if (messages.length === 0) return undefined;
  const lines = messages.flatMap((m) => decodeLogEntry(m.payload).records.map(toLakeLine));
  if (lines.length > 0) await deps.lake.append(lines);
  const last = messages[messages.length - 1]!.seq;
  await deps.setOffset(last);
  deps.onWritten?.(lines.length);
  return last;
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
      await writeNext(deps, reader);
      if (!signal.aborted) await deps.between?.();
    }
  } finally {
    await reader.close();
  }
}

/**
 * Writes to the lake what the log holds beyond the lake writer's offset, up to the log's last
 * message at the call (before a rebuild, with the workers stopped); returns the records written.
 * Fails when the log gives nothing for `stallMs` while messages are still owed.
 */
export async function catchUpLake(deps: LakeWriterDeps, stallMs = 30_000): Promise<number> {
  const until = await deps.log.lastSeq();
  let at = await deps.offset();
  if (at >= until) return 0;
  let written = 0;
  const reader = await deps.log.reader('all', at + 1);
  const counting = { ...deps, onWritten: (n: number) => ((written += n), deps.onWritten?.(n)) };
  try {
    let progressAt = Date.now();
    while (at < until) {
      const seq = await writeNext(counting, reader);
      if (seq !== undefined) {
        at = seq;
        progressAt = Date.now();
      } else if (Date.now() - progressAt > stallMs) {
        throw new Error(`the lake writer is at ${at} of the log's ${until} and the log gives nothing more`);
      }
    }
  } finally {
    await reader.close();
  }
  return written;
}
