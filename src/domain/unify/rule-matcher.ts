import type { MatchRule, UnificationConfig } from './config.js';
import type { Columns } from './match-record.js';
import { PRECISION_THRESHOLDS, similarity, type SimilarityName } from './similarity.js';

interface CompiledCondition {
  column: ReadonlyArray<string | null>;
  kind: SimilarityName;
  threshold: number;
}
type CompiledRule = CompiledCondition[];

/**
 * Decides whether two records match under the configured rules: within a dataset its
 * deduplication rules, across two datasets the rules of that pair (in either order).
 */
export class RuleMatcher {
  private readonly byPair = new Map<number, CompiledRule[]>();
  private readonly datasetCount: number;

  constructor(config: UnificationConfig, columns: Columns) {
    this.datasetCount = config.datasets.length;
    const index = new Map(config.datasets.map((d, i) => [d.dataset, i]));
    config.datasets.forEach((d, i) => {
      if (d.dedupRules?.length) this.add(i, i, d.dedupRules, columns);
    });
    for (const pair of config.pairs ?? []) {
      const a = index.get(pair.datasets[0] ?? '');
      const b = index.get(pair.datasets[1] ?? '');
      if (a === undefined || b === undefined) continue;
      this.add(a, b, pair.rules, columns);
    }
  }

  /** Whether any rule applies to records of these two datasets. */
  applies(datasetA: number, datasetB: number): boolean {
    return this.byPair.has(this.pairKey(datasetA, datasetB));
  }

  matches(i: number, datasetA: number, j: number, datasetB: number): boolean {
    const rules = this.byPair.get(this.pairKey(datasetA, datasetB));
    if (!rules) return false;
    for (const rule of rules) if (rule.every((c) => conditionHolds(c, i, j))) return true;
    return false;
  }

  /** Every rule the engine uses (for deriving blocking keys). */
  static allRules(config: UnificationConfig): MatchRule[] {
    return [...config.datasets.flatMap((d) => d.dedupRules ?? []), ...(config.pairs ?? []).flatMap((p) => p.rules)];
  }

  private add(a: number, b: number, rules: readonly MatchRule[], columns: Columns): void {
    const key = this.pairKey(a, b);
    const list = this.byPair.get(key) ?? [];
    for (const rule of rules) {
      list.push(
        rule.conditions.map((c) => {
          const precision = c.precision ?? 'exact';
          return {
            column: columns.get(c.field, c.normalizers ?? []),
            kind: c.similarity ?? 'jaroWinkler',
            threshold: precision === 'custom' ? (c.threshold ?? 1) : PRECISION_THRESHOLDS[precision],
          };
        }),
      );
    }
    this.byPair.set(key, list);
  }

  private pairKey(a: number, b: number): number {
    return a <= b ? a * this.datasetCount + b : b * this.datasetCount + a;
  }
}

function conditionHolds(c: CompiledCondition, i: number, j: number): boolean {
  const a = c.column[i];
  const b = c.column[j];
  if (a === null || a === undefined || b === null || b === undefined) return false;
  if (a === b) return true;
  if (c.threshold >= 1) return false;
  return similarity(c.kind, a, b) >= c.threshold;
}
