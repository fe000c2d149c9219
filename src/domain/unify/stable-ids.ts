export interface IdAssignment {
  /** The customerId of each cluster (by cluster index). */
  clusterIds: string[];
  /** Previous ids that no cluster kept, each to the cluster that took most of its records. */
  absorbed: Array<{ absorbedId: string; survivorId: string }>;
  /** Clusters that got a new id. */
  created: number;
  /** Previous ids whose records now sit in more than one cluster. */
  split: number;
}

/**
 * Stable customerIds across runs. Each cluster keeps the previous id most of its records had;
 * when clusters merge, one id survives (the one with most records; a tie goes to the older, that
 * is the smaller, id) and the others are absorbed; when a cluster splits, the largest part keeps
 * the id and the other parts get new ones.
 *
 * `previous[r]` is record r's id before the run (null: a record new to unification);
 * `clusterOf[r]` is its cluster index (0 … clusterCount-1).
 */
export function assignStableIds(previous: ReadonlyArray<string | null>, clusterOf: ArrayLike<number>, clusterCount: number, newId: () => string): IdAssignment {
  const counts = new Map<string, Map<number, number>>();
  for (let r = 0; r < previous.length; r++) {
    const id = previous[r];
    if (id === null || id === undefined) continue;
    const byCluster = counts.get(id) ?? new Map<number, number>();
    byCluster.set(clusterOf[r]!, (byCluster.get(clusterOf[r]!) ?? 0) + 1);
    counts.set(id, byCluster);
  }
  const candidates: Array<{ id: string; cluster: number; count: number }> = [];
  for (const [id, byCluster] of counts) for (const [cluster, count] of byCluster) candidates.push({ id, cluster, count });
  candidates.sort((a, b) => b.count - a.count || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) || a.cluster - b.cluster);

  const clusterIds = new Array<string | undefined>(clusterCount);
  const kept = new Set<string>();
  for (const c of candidates) {
    if (clusterIds[c.cluster] !== undefined || kept.has(c.id)) continue;
    clusterIds[c.cluster] = c.id;
    kept.add(c.id);
  }
  let created = 0;
  for (let c = 0; c < clusterCount; c++) {
    if (clusterIds[c] === undefined) {
      clusterIds[c] = newId();
      created++;
    }
  }
  const absorbed: IdAssignment['absorbed'] = [];
  let split = 0;
  for (const [id, byCluster] of counts) {
    if (byCluster.size > 1 && kept.has(id)) split++;
    if (kept.has(id)) continue;
    let best = -1;
    let bestCount = -1;
    for (const [cluster, count] of byCluster) if (count > bestCount || (count === bestCount && cluster < best)) [best, bestCount] = [cluster, count];
    absorbed.push({ absorbedId: id, survivorId: clusterIds[best]! });
  }
  return { clusterIds: clusterIds as string[], absorbed, created, split };
}
