import type { JsonValue } from '../domain/json-path.js';

/** One record as received, with its receipt metadata: a line of the lake. */
export interface LakeEntry {
  instanceId: string;
  datasetId: string;
  recordId: string;
  receivedAt: number;
  path: 'streaming' | 'realtime' | 'batch' | 'tracking';
  requestId: string;
  caller: string | null;
  /** Real-time changes: when they expire. */
  validUntil?: number;
  /** Real-time changes: the customerId they were addressed to. */
  target?: string;
  /** `patch`: a real-time profile update (the record is the fields sent). `delete`: a source record removed (the record is `{recordKey}`). */
  operation?: 'patch' | 'delete';
  /** Commit order: increasing across all segments, stamped by the writer. */
  seq?: number;
  record: JsonValue;
}

/** An entry to append, its record already serialized (ingestion serializes each record once). */
export type LakeLine = Omit<LakeEntry, 'record'> & { recordJson: string };

/** Where an appended entry sits: the segment file and the byte offset just past it. */
export interface LakePosition {
  segment: string;
  end: number;
}

/** An append under way: where its entries will sit (known at once), and when they are durable. */
export interface StagedAppend {
  positions: LakePosition[];
  /** Resolves once the entries are durable on disk; rejects when they could not be written (then the positions hold nothing). */
  durable: Promise<void>;
}

export interface Lake {
  /** Appends entries and returns once they are durable on disk. */
  append(lines: readonly LakeLine[]): Promise<LakePosition[]>;
  /**
   * Starts appending entries, in call order with every other append: their positions at once, and
   * a promise that they are durable. Nothing may count on them (commit a transaction that names
   * them, answer a caller) before `durable` resolves.
   */
  stage(lines: readonly LakeLine[]): StagedAppend;
  /** Every segment with its size, for recovery. */
  segments(): Promise<Array<{ segment: string; size: number }>>;
  /** Reads a segment's entries from a byte offset on, with the offset past each one. */
  read(segment: string, fromOffset: number): AsyncIterable<{ entry: LakeEntry; end: number }>;
  /** Rewrites a closed segment in a columnar form (Parquet); returns the new segment and its row count. */
  compact(segment: string): Promise<{ segment: string; rows: number }>;
  /** Whether the segment may still be appended to. */
  isOpen(segment: string): boolean;
  /** Deletes a dataset's date partitions before `day` (retention); returns the partitions removed. */
  dropPartitionsBefore(instanceId: string, datasetId: string, day: string): Promise<string[]>;
  /** Closes the segments of days before `day` (YYYY-MM-DD). */
  closeBefore(day: string): void;
  close(): Promise<void>;
}
