import type { MatchRule, UnificationConfig } from './config.js';
import type { Columns, MatchRecord } from './match-record.js';
import { normalizeValue, type NormalizerContext } from './normalizers.js';
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

export interface ConditionExplanation {
  field: string;
  /** The two values after the condition's normalizers. */
  left: string | null;
  right: string | null;
  similarity: SimilarityName | 'exact';
  score: number | null;
  threshold: number;
  passed: boolean;
}

export interface RuleExplanation {
  /** `dedup:<dataset>` or `pair:<dataset>/<dataset>`. */
  scope: string;
  rule: string;
  matched: boolean;
  conditions: ConditionExplanation[];
}

/** Every rule that applies to two records (by their datasets), condition by condition. */
export function explainRules(config: UnificationConfig, left: MatchRecord, right: MatchRecord, ctx: NormalizerContext): RuleExplanation[] {
  const nameA = config.datasets[left.dataset]?.dataset;
  const nameB = config.datasets[right.dataset]?.dataset;
  const scopes: Array<{ scope: string; rules: readonly MatchRule[] }> = [];
  if (nameA === nameB) scopes.push({ scope: `dedup:${nameA}`, rules: config.datasets[left.dataset]?.dedupRules ?? [] });
  for (const pair of config.pairs ?? []) {
    const [a, b] = pair.datasets;
    if ((a === nameA && b === nameB) || (a === nameB && b === nameA)) scopes.push({ scope: `pair:${a}/${b}`, rules: pair.rules });
  }
  return scopes.flatMap(({ scope, rules }) =>
    rules.map((rule, k) => {
      const conditions = rule.conditions.map((c): ConditionExplanation => {
        const precision = c.precision ?? 'exact';
        const threshold = precision === 'custom' ? (c.threshold ?? 1) : PRECISION_THRESHOLDS[precision];
        const norm = (r: MatchRecord): string | null => {
          const raw = r.values[c.field];
          return raw === null || raw === undefined ? null : normalizeValue(raw, c.normalizers ?? [], ctx);
        };
        const a = norm(left);
        const b = norm(right);
        const kind = threshold >= 1 ? 'exact' : (c.similarity ?? 'jaroWinkler');
        const score = a === null || b === null ? null : kind === 'exact' ? (a === b ? 1 : 0) : similarity(kind, a, b);
        return { field: c.field, left: a, right: b, similarity: kind, score, threshold, passed: score !== null && score >= threshold };
      });
      return { scope, rule: rule.name ?? `rule ${k + 1}`, matched: conditions.every((c) => c.passed), conditions };
    }),
  );
}
