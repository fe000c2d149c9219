import type { ComparisonKind, ProbabilisticComparison } from './config.js';
import type { Columns } from './match-record.js';
import { jaroWinkler, levenshtein } from './similarity.js';

/** The agreement levels of a comparison, best first; anything that passes none is "different". */
const EDIT_LEVELS = [
  { label: 'exact', test: (a: string, b: string) => a === b },
  { label: 'levenshtein <= 1', test: (a: string, b: string) => levenshtein(a, b) <= 1 },
  { label: 'levenshtein <= 2', test: (a: string, b: string) => levenshtein(a, b) <= 2 },
];

const LEVELS: Readonly<Record<ComparisonKind, ReadonlyArray<{ label: string; test: (a: string, b: string) => boolean }>>> = {
  name: [
    { label: 'exact', test: (a, b) => a === b },
    { label: 'jaroWinkler >= 0.92', test: (a, b) => jaroWinkler(a, b) >= 0.92 },
    { label: 'jaroWinkler >= 0.88', test: (a, b) => jaroWinkler(a, b) >= 0.88 },
    { label: 'jaroWinkler >= 0.7', test: (a, b) => jaroWinkler(a, b) >= 0.7 },
  ],
  text: [
    { label: 'exact', test: (a, b) => a === b },
    { label: 'jaroWinkler >= 0.9', test: (a, b) => jaroWinkler(a, b) >= 0.9 },
    { label: 'jaroWinkler >= 0.7', test: (a, b) => jaroWinkler(a, b) >= 0.7 },
  ],
  date: EDIT_LEVELS,
  code: EDIT_LEVELS,
  email: [
    { label: 'exact', test: (a, b) => a === b },
    { label: 'same username', test: (a, b) => a.split('@')[0] === b.split('@')[0] },
    { label: 'jaroWinkler >= 0.88', test: (a, b) => jaroWinkler(a, b) >= 0.88 },
  ],
  exact: [{ label: 'exact', test: (a, b) => a === b }],
};

export interface FsParameters {
  /** Probability that two records drawn at random are the same person. */
  lambda: number;
  /** Per comparison, per level (index 0 = the first agreement level; last = different). */
  m: number[][];
  u: number[][];
}

export interface ComparisonExplanation {
  field: string;
  level: string;
  m: number | null;
  u: number | null;
  /** log2(m / u), after the term-frequency adjustment; 0 when a value is missing. */
  weight: number;
}

export interface PairExplanation {
  priorWeight: number;
  comparisons: ComparisonExplanation[];
  matchWeight: number;
  probability: number;
}

const NULL_LEVEL = 0;

/** A trained model as kept with a run: parameters and, per term-frequency comparison, the counts of repeated values. */
export interface StoredModel extends FsParameters {
  termFrequencies: Array<{ total: number; repeated: Record<string, number> } | null>;
}

const MAX_STORED_VALUES = 100_000;

/**
 * Fellegi–Sunter scoring. Levels are coded per pair as 0 (a value missing), then 1… for the
 * agreement levels in order, then the "different" level.
 */
export class FellegiSunter {
  readonly levelCounts: number[];
  private readonly columns: Array<ReadonlyArray<string | null>>;
  private termFrequencies: Array<Map<string, number> | null>;
  params: FsParameters;

  private readonly counts: Array<{ total: number; byValue: Map<string, number> } | null>;

  /** `stored`: a model trained by an earlier run (its parameters and term frequencies), to score with. */
  constructor(
    readonly comparisons: readonly ProbabilisticComparison[],
    columns: Columns,
    stored?: StoredModel,
  ) {
    this.columns = comparisons.map((c) => columns.get(c.field, c.normalizers ?? ['whitespace', 'case']));
    this.levelCounts = comparisons.map((c) => LEVELS[c.kind].length + 1);
    // A stored model brings its own frequencies (of the whole data, not of the records at hand).
    this.counts = comparisons.map((c, k) => (c.termFrequency && !stored ? valueCounts(this.columns[k]!) : null));
    this.termFrequencies = this.counts.map((c) => c && new Map([...c.byValue].map(([v, n]) => [v, n / c.total])));
    this.params = { lambda: 1e-4, m: this.levelCounts.map(initialM), u: this.levelCounts.map((n) => new Array<number>(n).fill(1 / n)) };
    if (stored) {
      this.params = { lambda: stored.lambda, m: stored.m, u: stored.u };
      this.termFrequencies = stored.termFrequencies.map((tf, k) => {
        if (!tf) return null;
        const map = new Map<string, number>();
        for (const v of this.columns[k]!) if (v !== null) map.set(v, (tf.repeated[v] ?? 1) / tf.total);
        return map;
      });
    }
  }

  /** The model to keep with the run: enough to explain any pair later. */
  export(): StoredModel {
    return {
      ...this.params,
      termFrequencies: this.counts.map((c) => {
        if (!c) return null;
        const repeated: Record<string, number> = {};
        let kept = 0;
        for (const [v, n] of [...c.byValue].sort((a, b) => b[1] - a[1])) {
          if (n < 2 || kept >= MAX_STORED_VALUES) break;
          repeated[v] = n;
          kept++;
        }
        return { total: c.total, repeated };
      }),
    };
  }

  /** The level code of comparison k for records i and j. */
  level(k: number, i: number, j: number): number {
    const a = this.columns[k]![i];
    const b = this.columns[k]![j];
    if (a === null || a === undefined || b === null || b === undefined) return NULL_LEVEL;
    const levels = LEVELS[this.comparisons[k]!.kind];
    for (let l = 0; l < levels.length; l++) if (levels[l]!.test(a, b)) return l + 1;
    return levels.length + 1;
  }

  /** Level codes of every comparison for each pair (pairs × comparisons). */
  gammas(left: Int32Array, right: Int32Array): Uint8Array {
    const c = this.comparisons.length;
    const out = new Uint8Array(left.length * c);
    for (let p = 0; p < left.length; p++) for (let k = 0; k < c; k++) out[p * c + k] = this.level(k, left[p]!, right[p]!);
    return out;
  }

  /** u: level frequencies among random pairs (nearly all of which are different people). */
  estimateU(recordCount: number, samplePairs: number, random: () => number): void {
    const counts = this.levelCounts.map((n) => new Array<number>(n).fill(0));
    for (let s = 0; s < samplePairs; s++) {
      const i = Math.floor(random() * recordCount);
      let j = Math.floor(random() * (recordCount - 1));
      if (j >= i) j++;
      for (let k = 0; k < this.comparisons.length; k++) {
        const g = this.level(k, i, j);
        if (g !== NULL_LEVEL) counts[k]![g - 1]!++;
      }
    }
    this.params.u = counts.map((row) => {
      const total = row.reduce((a, b) => a + b, 0);
      return row.map((n) => (n + 1) / (total + row.length));
    });
  }

  /**
   * m by expectation–maximisation over the candidate pairs of one blocking key, with u fixed.
   * Comparisons on the key's own fields are left out (blocking biased them); returns m for the
   * others, or null for those left out.
   */
  emSession(gammas: Uint8Array, pairs: ArrayLike<number>, leftOut: ReadonlySet<number>, maxIterations: number): Array<number[] | null> {
    const c = this.comparisons.length;
    let m = this.params.m.map((row) => [...row]);
    let lambda = 0.3;
    for (let it = 0; it < maxIterations; it++) {
      const sums = this.levelCounts.map((n) => new Array<number>(n).fill(0));
      let sumP = 0;
      for (let q = 0; q < pairs.length; q++) {
        const base = pairs[q]! * c;
        let logOdds = Math.log(lambda / (1 - lambda));
        for (let k = 0; k < c; k++) {
          if (leftOut.has(k)) continue;
          const g = gammas[base + k]!;
          if (g !== NULL_LEVEL) logOdds += Math.log(m[k]![g - 1]! / this.params.u[k]![g - 1]!);
        }
        const p = 1 / (1 + Math.exp(-logOdds));
        sumP += p;
        for (let k = 0; k < c; k++) {
          const g = gammas[base + k]!;
          if (g !== NULL_LEVEL && !leftOut.has(k)) sums[k]![g - 1]! += p;
        }
      }
      const next = sums.map((row, k) => {
        const total = row.reduce((a, b) => a + b, 0);
        return total > 0 ? row.map((v) => Math.max(v / total, 1e-6)) : m[k]!;
      });
      lambda = Math.min(Math.max(sumP / Math.max(pairs.length, 1), 1e-6), 1 - 1e-6);
      const change = Math.max(...next.flatMap((row, k) => row.map((v, l) => Math.abs(v - m[k]![l]!))));
      m = next;
      if (change < 1e-4) break;
    }
    return m.map((row, k) => (leftOut.has(k) ? null : row));
  }

  /** Log2 odds that records i and j are one person (prior included). */
  matchWeight(i: number, j: number, gammas?: Uint8Array, pair?: number): number {
    let weight = Math.log2(this.params.lambda / (1 - this.params.lambda));
    for (let k = 0; k < this.comparisons.length; k++) {
      const g = gammas && pair !== undefined ? gammas[pair * this.comparisons.length + k]! : this.level(k, i, j);
      if (g !== NULL_LEVEL) weight += this.levelWeight(k, g, i);
    }
    return weight;
  }

  explain(i: number, j: number): PairExplanation {
    const priorWeight = Math.log2(this.params.lambda / (1 - this.params.lambda));
    const comparisons = this.comparisons.map((comparison, k): ComparisonExplanation => {
      const g = this.level(k, i, j);
      const levels = LEVELS[comparison.kind];
      if (g === NULL_LEVEL) return { field: comparison.field, level: 'missing', m: null, u: null, weight: 0 };
      return {
        field: comparison.field,
        level: levels[g - 1]?.label ?? 'different',
        m: this.params.m[k]![g - 1]!,
        u: this.params.u[k]![g - 1]!,
        weight: this.levelWeight(k, g, i),
      };
    });
    const matchWeight = priorWeight + comparisons.reduce((s, c) => s + c.weight, 0);
    return { priorWeight, comparisons, matchWeight, probability: probabilityOf(matchWeight) };
  }

  private levelWeight(k: number, g: number, i: number): number {
    const m = this.params.m[k]![g - 1]!;
    let u = this.params.u[k]![g - 1]!;
    const tf = this.termFrequencies[k];
    if (tf && g === 1) u = tf.get(this.columns[k]![i]!) ?? u;
    return Math.log2(m / u);
  }
}

export function probabilityOf(matchWeight: number): number {
  return 1 / (1 + Math.pow(2, -matchWeight));
}

function initialM(levelCount: number): number[] {
  // Most true matches agree exactly; the rest spread over the fuzzy levels; few differ entirely.
  const m = new Array<number>(levelCount).fill(0);
  m[0] = 0.7;
  const middle = levelCount - 2;
  for (let l = 1; l <= middle; l++) m[l] = 0.25 / middle;
  m[levelCount - 1] = middle > 0 ? 0.05 : 0.3;
  return m;
}

function valueCounts(column: ReadonlyArray<string | null>): { total: number; byValue: Map<string, number> } {
  const byValue = new Map<string, number>();
  let total = 0;
  for (const v of column) {
    if (v === null) continue;
    byValue.set(v, (byValue.get(v) ?? 0) + 1);
    total++;
  }
  return { total, byValue };
}
