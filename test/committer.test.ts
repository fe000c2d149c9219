import { describe, expect, it } from 'vitest';
import { Committer } from '../src/pipelines/apply/committer.js';
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
