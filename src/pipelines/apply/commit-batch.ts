import type { Lake, LakePosition } from '../../ports/lake.js';
import type { ApplyOutcome, CommitWork } from '../records.js';
import { toLakeLine } from '../records.js';
import type { CommitBatch } from './committer.js';

type ApplyBatch = (works: readonly CommitWork[], positions: ReadonlyArray<LakePosition | undefined>, now: number) => Promise<ApplyOutcome[][]>;

/**
 * The commit of one group, on the writer: append the new records to the lake and make them
 * durable, then apply the group in one transaction that also moves the lake watermark.
 * Works that carry `lakePositions` are already in the lake (replay) and are only applied.
 */
export function createCommitBatchStep(deps: { lake: Lake; applyBatch: ApplyBatch }): CommitBatch {
  return async (works, now) => {
    const fresh = works.filter((w) => !w.lakePositions).flatMap((w) => w.records.map(toLakeLine));
    const written = fresh.length > 0 ? await deps.lake.append(fresh) : [];
    const positions: Array<LakePosition | undefined> = [];
    let next = 0;
    for (const w of works) {
      if (w.lakePositions) positions.push(...w.records.map((_, i) => w.lakePositions?.[i]));
      else for (let i = 0; i < w.records.length; i++) positions.push(written[next++]);
    }
    return deps.applyBatch(works, positions, now);
  };
}
