import { describe, expect, it } from 'vitest';
import { combineGroups } from '../src/pipelines/log/apply-from-log.js';
import type { ApplyOutcome, CommitWork } from '../src/pipelines/records.js';
import { record } from './helpers/records.js';

/** A partition's group of log messages: `n` messages of one record each, from sequence number `from` on. */
const group = (partition: number, from: number, n: number): CommitWork[] =>
  Array.from({ length: n }, (_, i) => ({
    instanceId: 'default',
    records: [record({ recordId: `p${partition}-${from + i}` })],
    failed: [],
    logPosition: { consumer: `partition-${partition}`, seq: from + i },
  }));

const outcome = (w: CommitWork): ApplyOutcome[] => w.records.map((r) => ({ status: 'applied', customerId: r.recordId, merged: [] }));

/** An apply step that holds each call until the test ends it, and remembers what each call held. */
function heldApply() {
  const calls: Array<{ works: readonly CommitWork[]; end(err?: Error): void }> = [];
  const apply = (works: readonly CommitWork[]): Promise<ApplyOutcome[][]> =>
    new Promise((resolve, reject) => calls.push({ works, end: (err) => (err ? reject(err) : resolve(works.map(outcome))) }));
  return { calls, apply };
}

const seqs = (works: readonly CommitWork[]): string[] => works.map((w) => `${w.logPosition!.consumer}:${w.logPosition!.seq}`);
const settle = (): Promise<void> => new Promise((r) => setImmediate(() => setImmediate(r)));

describe('a worker’s partitions applied together', () => {
  it('groups that come while two transactions run wait, then go as one, by consumer, each with its own outcomes', async () => {
    const { calls, apply } = heldApply();
    const combined = combineGroups(apply, { inFlight: 2 });
    const first = combined(group(3, 1, 2), [], 0);
    await settle();
    const second = combined(group(5, 1, 1), [], 0);
    await settle();
    expect(calls.map((c) => seqs(c.works))).toEqual([['partition-3:1', 'partition-3:2'], ['partition-5:1']]);

    // Two in flight: these wait, and go together when one ends.
    const third = combined(group(7, 1, 2), [], 0);
    const fourth = combined(group(2, 10, 1), [], 0);
    await settle();
    expect(calls).toHaveLength(2);
    calls[0]!.end();
    expect((await first).map((o) => o[0]!.customerId)).toEqual(['p3-1', 'p3-2']);
    await settle();
    expect(calls.map((c) => seqs(c.works))).toEqual([['partition-3:1', 'partition-3:2'], ['partition-5:1'], ['partition-2:10', 'partition-7:1', 'partition-7:2']]);
    calls[2]!.end();
    expect((await third).map((o) => o[0]!.customerId)).toEqual(['p7-1', 'p7-2']);
    expect((await fourth).map((o) => o[0]!.customerId)).toEqual(['p2-10']);
    calls[1]!.end();
    expect((await second).map((o) => o[0]!.customerId)).toEqual(['p5-1']);
  });

  it('takes waiting groups up to its size, at least one, leaving the rest for the next; a failure is heard by the callers of its transaction only', async () => {
    const { calls, apply } = heldApply();
    const combined = combineGroups(apply, { inFlight: 1, maxRecords: 3 });
    const running = combined(group(0, 1, 1), [], 0);
    await settle();
    const big = combined(group(1, 1, 4), [], 0);
    const a = combined(group(2, 1, 2), [], 0);
    const b = combined(group(3, 1, 1), [], 0);
    const c = combined(group(4, 1, 1), [], 0);
    calls[0]!.end();
    await running;
    await settle();
    // Larger than the size alone: it goes alone.
    expect(seqs(calls[1]!.works)).toEqual(['partition-1:1', 'partition-1:2', 'partition-1:3', 'partition-1:4']);
    calls[1]!.end(new Error('lost the database'));
    await expect(big).rejects.toThrow('lost the database');
    await settle();
    expect(seqs(calls[2]!.works)).toEqual(['partition-2:1', 'partition-2:2', 'partition-3:1']);
    calls[2]!.end();
    expect(await a).toHaveLength(2);
    expect(await b).toHaveLength(1);
    await settle();
    expect(seqs(calls[3]!.works)).toEqual(['partition-4:1']);
    calls[3]!.end();
    expect(await c).toHaveLength(1);
  });
});
