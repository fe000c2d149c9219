import { describe, expect, it } from 'vitest';
import { Committer } from '../src/pipelines/apply/committer.js';
import { createCommitBatchStep } from '../src/pipelines/apply/commit-batch.js';
import type { Lake } from '../src/ports/lake.js';
import { ManualClock } from '../src/domain/clock.js';
import type { CommitWork } from '../src/pipelines/records.js';

const work = (tag: string): CommitWork => ({
  instanceId: 'i',
  records: [{ kind: 'profile', instanceId: 'i', datasetId: 'd', recordId: tag, rawJson: '{}', recordJson: '{}', identities: [], recordKey: tag, timestamp: 0, activityType: null, validUntil: null, receipt: { requestId: tag, receivedAt: 0, path: 'streaming', caller: null } }],
  failed: [],
});

/** A committer whose writer only records the order in which it was handed works. */
function recordingCommitter(maxInFlight: number): { c: Committer; committed: string[] } {
  const committed: string[] = [];
  const c = new Committer(
    async (works) => {
      for (const w of works) committed.push(w.records[0]!.recordId);
      return works.map(() => []);
    },
    new ManualClock(0),
    { maxBatchRecords: 100, maxInFlight },
  );
  return { c, committed };
}

describe('group commit order', () => {
  it('commits in the order places were reserved, whatever order the work is ready in', async () => {
    const { c, committed } = recordingCommitter(2);
    const first = c.reserve();
    const second = c.reserve();
    const third = c.reserve();
    const p3 = third(work('c'));
    const p2 = second(work('b'));
    await new Promise((r) => setTimeout(r, 20));
    expect(committed).toEqual([]); // nothing passes the first place while it is still preparing
    const p1 = first(work('a'));
    await Promise.all([p1, p2, p3]);
    expect(committed).toEqual(['a', 'b', 'c']);
  });

  it('a place given up with empty work does not block the ones after it', async () => {
    const { c, committed } = recordingCommitter(1);
    const gone = c.reserve();
    const next = c.reserve();
    const p = next(work('x'));
    await gone({ instanceId: 'i', records: [], failed: [] });
    await p;
    expect(committed).toEqual(['x']);
  });
});

describe('the writer\'s commit step', () => {
  it('applies groups in the order they were handed in, each committing once it is durable, even when a later one is durable first', async () => {
    const steps: string[] = [];
    const durable = new Map<string, () => void>();
    const step = createCommitBatchStep({
      // Each group's lake append is durable only when the test says so.
      lake: { stage: (lines) => ({ positions: lines.map((_, i) => ({ segment: 's', end: i })), durable: new Promise<void>((resolve) => durable.set(lines[0]!.recordId, resolve)) }) } as Lake,
      // As the apply step does: the group's statements, then its commit once its records are durable.
      applyBatch: async (works, _positions, _now, inLake) => {
        const id = works[0]!.records[0]!.recordId;
        steps.push(`apply ${id}`);
        await inLake;
        steps.push(`commit ${id}`);
        return works.map((w) => w.records.map(() => ({ status: 'applied', customerId: null, merged: [] })));
      },
      resolveCustomerId: async () => undefined,
    });
    const a = step([work('a')], 0);
    const b = step([work('b')], 0);
    await new Promise((r) => setTimeout(r, 10));
    expect(steps).toEqual(['apply a']); // a's statements run while its records are synced
    durable.get('b')!();
    await new Promise((r) => setTimeout(r, 10));
    expect(steps).toEqual(['apply a']); // b is durable, but a has not committed yet
    durable.get('a')!();
    await Promise.all([a, b]);
    expect(steps).toEqual(['apply a', 'commit a', 'apply b', 'commit b']);
  });

  it('a group that fails does not stop the ones after it', async () => {
    const step = createCommitBatchStep({
      lake: { stage: (lines) => ({ positions: lines.map((_, i) => ({ segment: 's', end: i })), durable: Promise.resolve() }) } as Lake,
      applyBatch: async (works) => {
        if (works[0]!.records[0]!.recordId === 'bad') throw new Error('apply failed');
        return works.map((w) => w.records.map(() => ({ status: 'applied', customerId: null, merged: [] })));
      },
      resolveCustomerId: async () => undefined,
    });
    const bad = step([work('bad')], 0);
    const good = step([work('good')], 0);
    await expect(bad).rejects.toThrow('apply failed');
    expect((await good)[0]![0]!.status).toBe('applied');
  });
});
