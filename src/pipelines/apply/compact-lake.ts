import type { Lake } from '../../ports/lake.js';
import type { ProfileWriter } from '../../ports/profile-store.js';

/**
 * Background lake upkeep, on the writer: retention per dataset, then compaction — every NDJSON
 * segment that is closed (no longer appended to) and fully applied (its watermark is at its end)
 * is rewritten as Parquet, and the watermark moves to the new file, so that recovery skips it and
 * a rebuild reads it.
 */
export async function compactLake(
  deps: { lake: Lake; writer: ProfileWriter; watermarks: () => Promise<Map<string, number>>; retention: () => Promise<Array<{ instanceId: string; datasetId: string; days: number }>> },
  today: string,
): Promise<number> {
  deps.lake.closeBefore(today);
  // Retention first: a dataset's partitions older than its retention are deleted (the profile
  // state derived from them stays; a rebuild can no longer bring them back).
  for (const r of await deps.retention()) {
    const cutoff = new Date(Date.parse(`${today}T00:00:00Z`) - r.days * 86_400_000).toISOString().slice(0, 10);
    await deps.lake.dropPartitionsBefore(r.instanceId, r.datasetId, cutoff);
  }
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
