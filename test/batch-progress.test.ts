import { describe, expect, it } from 'vitest';
import { ManualClock } from '../src/domain/clock.js';
import type { Batch, BatchStore } from '../src/ports/batch-store.js';
import { BatchProgress } from '../src/services/batch-progress.js';

const batch = (rowsApplied: number): Batch => ({
  instanceId: 'i',
  id: 'b1',
  datasetId: 'd',
  format: 'csv',
  status: 'processing',
  errorThreshold: 5,
  options: { mapping: {}, requiredColumns: [], csv: { delimiter: ',', quote: '"', trim: true }, caller: null },
  files: [],
  rowsRead: 10_000,
  rowsApplied,
  rowsFailed: 0,
  message: null,
  createdAt: 0,
  completedAt: 0,
  startedAt: 0,
  finishedAt: null,
});

/** A store that only records the rows-applied counts written to it. */
function recordingStore(): { store: BatchStore; written: number[] } {
  const written: number[] = [];
  const unused = (): never => {
    throw new Error('not used');
  };
  const store: BatchStore = { create: unused, get: unused, list: unused, appliedThroughRow: unused, processing: unused, errors: unused, addErrors: unused, update: async (b) => void written.push(b.rowsApplied) };
  return { store, written };
}

describe('batch progress', () => {
  it('is current for reads at once and written to the store at most once per interval', async () => {
    const clock = new ManualClock(1_000);
    const { store, written } = recordingStore();
    const progress = new BatchProgress(store, clock, 2_000);
    await progress.report(batch(2_000));
    await progress.report(batch(4_000));
    clock.advance(1_999);
    await progress.report(batch(6_000));
    expect(progress.of('i', 'b1')?.rowsApplied).toBe(6_000);
    expect(written).toEqual([2_000]);
    clock.advance(1);
    await progress.report(batch(8_000));
    expect(written).toEqual([2_000, 8_000]);
    expect(progress.of('i', 'other')).toBeUndefined();
    progress.end('i', 'b1');
    expect(progress.of('i', 'b1')).toBeUndefined();
    // A batch processed again after its end starts a new interval: its first report is written.
    await progress.report(batch(500));
    expect(written).toEqual([2_000, 8_000, 500]);
  });
});
