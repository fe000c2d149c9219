import type { Lake } from '../../ports/lake.js';
import type { ProfileWriter } from '../../ports/profile-store.js';

/**
 * Background compaction, on the writer: every NDJSON segment that is closed (no longer appended
 * to) and fully applied (its watermark is at its end) is rewritten as Parquet, and the watermark
 * moves to the new file, so that recovery skips it and a rebuild reads it.
 */
export async function compactLake(deps: { lake: Lake; writer: ProfileWriter; watermarks: () => Promise<Map<string, number>> }, today: string): Promise<number> {
  deps.lake.closeBefore(today);
  const watermarks = await deps.watermarks();
  let n = 0;
  for (const { segment, size } of await deps.lake.segments()) {
    if (!segment.endsWith('.ndjson') || deps.lake.isOpen(segment) || (watermarks.get(segment) ?? 0) < size) continue;
    const done = await deps.lake.compact(segment);
    await deps.writer.transaction(async (tx) => {
      await tx.setLakeWatermark(done.segment, done.rows);
    });
    n++;
  }
  return n;
}
