import type { Lake, LakePosition } from '../../ports/lake.js';
import type { ApplyOutcome, CommitWork, PreparedRecord } from '../records.js';
import { toLakeLine } from '../records.js';
import type { CommitBatch } from './committer.js';

type ApplyBatch = (works: readonly CommitWork[], positions: ReadonlyArray<LakePosition | undefined>, now: number, durable?: Promise<void>) => Promise<ApplyOutcome[][]>;

const NOT_FOUND: ApplyOutcome = { status: 'not_found', customerId: null, merged: [] };

/**
 * The commit of one group, on the writer: real-time changes to profiles that do not exist are
 * answered `not_found` and kept out of the lake; the new records are appended to the lake; then,
 * at the group's turn, it is applied in one transaction that also moves the lake watermark and
 * commits only once the records are durable in the lake. (Its statements run while the lake
 * syncs: a group's sync took longer than the apply of the group before it, ~30 against ~22 ms at
 * 1,000,000 people, and the writer waited for it 11% of the batch phase.)
 * Works that carry `lakePositions` are already in the lake (replay) and are only applied. (The
 * apply checks the profile again, in its transaction: one merged or deleted meanwhile is followed.)
 */
export function createCommitBatchStep(deps: { lake: Lake; applyBatch: ApplyBatch; resolveCustomerId(instanceId: string, customerId: string): Promise<string | undefined> }): CommitBatch {
  // Groups are applied in the order they were handed in, even when a later one is durable first.
  let previous: Promise<void> = Promise.resolve();
  return async (all, now) => {
    const turn = previous;
    let done!: () => void;
    previous = new Promise<void>((resolve) => (done = resolve));
    try {
      return await commitInTurn(all, now, turn);
    } finally {
      done();
    }
  };

  async function commitInTurn(all: readonly CommitWork[], now: number, turn: Promise<void>): Promise<ApplyOutcome[][]> {
    const missing = new Set<PreparedRecord>();
    for (const w of all) {
      if (w.lakePositions) continue;
      for (const r of w.records) if (r.target !== undefined && (await deps.resolveCustomerId(r.instanceId, r.target)) === undefined) missing.add(r);
    }
    const works = missing.size === 0 ? all : all.map((w) => ({ ...w, records: w.records.filter((r) => !missing.has(r)) }));
    const fresh = works.filter((w) => !w.lakePositions).flatMap((w) => w.records.map(toLakeLine));
    const staged = fresh.length > 0 ? deps.lake.stage(fresh) : undefined;
    const written = staged?.positions ?? [];
    const positions: Array<LakePosition | undefined> = [];
    let next = 0;
    for (const w of works) {
      if (w.lakePositions) positions.push(...w.records.map((_, i) => w.lakePositions?.[i]));
      else for (let i = 0; i < w.records.length; i++) positions.push(written[next++]);
    }
    await turn;
    const outcomes = await deps.applyBatch(works, positions, now, staged?.durable);
    if (missing.size === 0) return outcomes;
    return all.map((w, k) => {
      const applied = outcomes[k]!;
      let j = 0;
      return w.records.map((r) => (missing.has(r) ? NOT_FOUND : applied[j++]!));
    });
  }
}
