import type { ControlStore } from '../../ports/control-store.js';
import type { Lake } from '../../ports/lake.js';
import type { ProfileWriter } from '../../ports/profile-store.js';

export interface LakeUpkeepDeps {
  lake: Lake;
  /** Each dataset's retention in days, where it has one. */
  retention(): Promise<Array<{ instanceId: string; datasetId: string; days: number }>>;
  /**
   * Embedded: recovery replays the lake from the applied watermarks, so only a fully applied
   * segment is rewritten, and its watermark moves to the new file. Without it (the scale-out lake
   * writer's lake: the log is what recovers), every segment of a past day is rewritten.
   */
  applied?: { watermarks(): Promise<Map<string, number>>; writer: ProfileWriter };
}

/** The datasets' retention settings, for lake upkeep. */
export async function retentionOf(control: ControlStore): Promise<Array<{ instanceId: string; datasetId: string; days: number }>> {
  const out: Array<{ instanceId: string; datasetId: string; days: number }> = [];
  for (const i of await control.listInstances()) {
    for (const d of await control.listDatasets(i.id)) if (d.retentionDays !== null) out.push({ instanceId: i.id, datasetId: d.id, days: d.retentionDays });
  }
  return out;
}

const dayOf = (segment: string): string | undefined => /\/date=(\d{4}-\d{2}-\d{2})\//.exec(segment)?.[1];

/**
 * Background lake upkeep, by the lake's one writer: retention per dataset, then compaction —
 * every NDJSON segment that is closed (no longer appended to) and done with is rewritten as
 * Parquet, so that recovery skips it and a rebuild reads it.
 */
export async function compactLake(deps: LakeUpkeepDeps, today: string): Promise<number> {
  deps.lake.closeBefore(today);
  // Retention first: a dataset's partitions older than its retention are deleted (the profile
  // state derived from them stays; a rebuild can no longer bring them back).
  for (const r of await deps.retention()) {
    const cutoff = new Date(Date.parse(`${today}T00:00:00Z`) - r.days * 86_400_000).toISOString().slice(0, 10);
    await deps.lake.dropPartitionsBefore(r.instanceId, r.datasetId, cutoff);
  }
  const watermarks = deps.applied ? await deps.applied.watermarks() : undefined;
  let n = 0;
  for (const { segment, size } of await deps.lake.segments()) {
    if (!segment.endsWith('.ndjson') || deps.lake.isOpen(segment)) continue;
    if (watermarks ? (watermarks.get(segment) ?? 0) < size : (dayOf(segment) ?? today) >= today) continue;
    const done = await deps.lake.compact(segment);
    await deps.applied?.writer.transaction(async (tx) => {
      await tx.setLakeWatermark(done.segment, done.rows);
    });
    n++;
  }
  return n;
}
