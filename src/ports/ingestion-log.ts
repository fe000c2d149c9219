/**
 * The durable ingestion log of the scale-out mode: accepted messages are appended to one of N
 * partitions (one person's records always to the same one) and consumed in order per partition.
 * Payloads are opaque text to the log; the pipelines encode and decode them.
 */
export interface LoggedMessage {
  /** The log's sequence number: increasing within a partition (and across the log). */
  seq: number;
  payload: string;
}

/** A reader of one partition (or of all, for the lake writer) from a sequence number on. */
export interface LogReader {
  /** The next messages in order (at most `max`), waiting up to `waitMs` for the first; empty when none came. */
  next(max: number, waitMs: number): Promise<LoggedMessage[]>;
  close(): Promise<void>;
}

export interface IngestionLog {
  readonly partitions: number;
  /** Appends one message to a partition; resolves with its sequence number once the log has it durably. `messageId` makes a retried append a no-op. Throws `log_full` (unavailable) when the log is at its limit. */
  append(partition: number, payload: string, messageId: string): Promise<number>;
  /** Reads a partition (or every partition, `'all'`) in order from `fromSeq` on. */
  reader(partition: number | 'all', fromSeq: number): Promise<LogReader>;
  /** The sequence number of the log's last message (0 when it never held one; trimming does not lower it). */
  lastSeq(): Promise<number>;
  /** Whether a partition holds a message after `seq`. */
  holdsAfter(partition: number, seq: number): Promise<boolean>;
  /** Drops a partition's messages below `belowSeq` (consumed by everyone who reads them). */
  trim(partition: number, belowSeq: number): Promise<void>;
  /** Resolves when the log answers now (within a second); throws why it does not (readiness). */
  check(): Promise<void>;
  close(): Promise<void>;
}
