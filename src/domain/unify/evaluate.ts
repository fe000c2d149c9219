/** Pairwise quality of a clustering against the truth (each record's true entity). */
export interface PairwiseQuality {
  precision: number;
  recall: number;
  f1: number;
  truePairs: number;
  predictedPairs: number;
  correctPairs: number;
}

const pairsOf = (n: number): number => (n * (n - 1)) / 2;

export function pairwiseQuality(clusterOf: ArrayLike<number>, truth: readonly string[]): PairwiseQuality {
  const truthSizes = new Map<string, number>();
  for (const t of truth) truthSizes.set(t, (truthSizes.get(t) ?? 0) + 1);
  const clusterSizes = new Map<number, number>();
  const both = new Map<string, number>();
  for (let i = 0; i < truth.length; i++) {
    const c = clusterOf[i]!;
    clusterSizes.set(c, (clusterSizes.get(c) ?? 0) + 1);
    const key = `${c}\u0000${truth[i]}`;
    both.set(key, (both.get(key) ?? 0) + 1);
  }
  let truePairs = 0;
  for (const n of truthSizes.values()) truePairs += pairsOf(n);
  let predictedPairs = 0;
  for (const n of clusterSizes.values()) predictedPairs += pairsOf(n);
  let correctPairs = 0;
  for (const n of both.values()) correctPairs += pairsOf(n);
  return quality(truePairs, predictedPairs, correctPairs);
}

function quality(truePairs: number, predictedPairs: number, correctPairs: number): PairwiseQuality {
  const precision = predictedPairs === 0 ? 1 : correctPairs / predictedPairs;
  const recall = truePairs === 0 ? 1 : correctPairs / truePairs;
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { precision, recall, f1, truePairs, predictedPairs, correctPairs };
}

/**
 * The best pairwise F1 over every threshold on the pairs' scores: joins pairs from the highest
 * score down (clusters are transitive), keeping exact running counts.
 */
export function bestThreshold(
  recordCount: number,
  truth: readonly string[],
  left: ArrayLike<number>,
  right: ArrayLike<number>,
  score: ArrayLike<number>,
  startClusterOf?: ArrayLike<number>,
): { threshold: number; quality: PairwiseQuality } {
  const parent = Int32Array.from({ length: recordCount }, (_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]!]!;
      i = parent[i]!;
    }
    return i;
  };
  const members = new Map<number, Map<string, number>>();
  const sizes = new Int32Array(recordCount).fill(1);
  for (let i = 0; i < recordCount; i++) members.set(i, new Map([[truth[i]!, 1]]));
  let truePairs = 0;
  const truthSizes = new Map<string, number>();
  for (const t of truth) truthSizes.set(t, (truthSizes.get(t) ?? 0) + 1);
  for (const n of truthSizes.values()) truePairs += pairsOf(n);
  let predicted = 0;
  let correct = 0;
  const join = (a: number, b: number): void => {
    let ra = find(a);
    let rb = find(b);
    if (ra === rb) return;
    if (sizes[ra]! < sizes[rb]!) [ra, rb] = [rb, ra];
    predicted += sizes[ra]! * sizes[rb]!;
    const big = members.get(ra)!;
    for (const [t, count] of members.get(rb)!) {
      correct += (big.get(t) ?? 0) * count;
      big.set(t, (big.get(t) ?? 0) + count);
    }
    members.delete(rb);
    parent[rb] = ra;
    sizes[ra]! += sizes[rb]!;
  };
  if (startClusterOf) for (let i = 0; i < recordCount; i++) join(i, startClusterOf[i]!);
  const order = Array.from({ length: left.length }, (_, p) => p).sort((a, b) => score[b]! - score[a]!);
  let best = { threshold: Infinity, quality: quality(truePairs, predicted, correct) };
  for (let q = 0; q < order.length; q++) {
    const p = order[q]!;
    join(left[p]!, right[p]!);
    if (q + 1 < order.length && score[order[q + 1]!] === score[p]) continue;
    const current = quality(truePairs, predicted, correct);
    if (current.f1 > best.quality.f1) best = { threshold: score[p]!, quality: current };
  }
  return best;
}
