import type { NormalizerName } from './normalizers.js';
import type { Precision, SimilarityName } from './similarity.js';

/** One condition of a match rule: a field compared after normalizers, exactly or by similarity. */
export interface MatchCondition {
  /** Canonical field name (a dataset's `fields` maps it to a path in its records). */
  field: string;
  normalizers?: NormalizerName[];
  /** Default: jaroWinkler (ignored when precision is exact). */
  similarity?: SimilarityName;
  /** Default: exact. */
  precision?: Precision;
  /** With precision `custom`: the similarity needed, 0–1. */
  threshold?: number;
}

/** Conditions ANDed; a list of rules is ORed, and matches are transitive. */
export interface MatchRule {
  name?: string;
  conditions: MatchCondition[];
}

export const WINNER_RULES = ['mostFilled', 'mostRecent', 'leastRecent'] as const;
export type WinnerRule = (typeof WINNER_RULES)[number];

export interface DatasetMatchConfig {
  /** Dataset name. The order of `datasets` is the match order. */
  dataset: string;
  /** Canonical field → dotted path in this dataset's records. Unlisted names are paths themselves. */
  fields?: Record<string, string>;
  /** Rules that find duplicates within this dataset. */
  dedupRules?: MatchRule[];
  /** Which duplicate's attributes the profile takes (the others still link). Default mostFilled. */
  winner?: WinnerRule;
}

export interface PairMatchConfig {
  /** The two datasets (names). */
  datasets: string[];
  rules: MatchRule[];
}

export const BLOCKING_TRANSFORMS = ['value', 'prefix', 'soundex', 'metaphone'] as const;
export type BlockingTransform = (typeof BLOCKING_TRANSFORMS)[number];

/** Records are compared only when they share a blocking key (every part present and equal). */
export interface BlockingKey {
  name?: string;
  parts: Array<{ field: string; normalizers?: NormalizerName[]; transform?: BlockingTransform; length?: number }>;
}

export const COMPARISON_KINDS = ['name', 'text', 'date', 'code', 'email', 'exact'] as const;
export type ComparisonKind = (typeof COMPARISON_KINDS)[number];

export interface ProbabilisticComparison {
  field: string;
  kind: ComparisonKind;
  normalizers?: NormalizerName[];
  /** Adjust the exact-match weight by how common the value is. */
  termFrequency?: boolean;
}

export interface ProbabilisticConfig {
  comparisons: ProbabilisticComparison[];
  /** Match probability at or above which two records are the same person. Default 0.9. */
  threshold?: number;
  /** Random pairs drawn to estimate u. Default 200,000. */
  uSamplePairs?: number;
  /** Default 25. */
  maxIterations?: number;
}

export const MERGE_FIELD_POLICIES = ['rank', 'mostRecent', 'leastRecent'] as const;
export type MergeFieldPolicy = (typeof MERGE_FIELD_POLICIES)[number];

export interface UnificationConfig {
  mode: 'rules' | 'probabilistic';
  datasets: DatasetMatchConfig[];
  pairs?: PairMatchConfig[];
  /** Default: derived from the rules' exact conditions. */
  blocking?: BlockingKey[];
  probabilistic?: ProbabilisticConfig;
  /** Pairs of record references `dataset/recordKey`. */
  alwaysMatch?: string[][];
  neverMatch?: string[][];
  /** Extra nickname → formal name pairs for the nameAlias normalizer. */
  nameAliases?: Record<string, string>;
  /** Merge policy per field or field group (path prefix); unlisted fields use the instance's. */
  merge?: Array<{ path: string; policy: MergeFieldPolicy }>;
  /** Enrichment steps by name, run in order. */
  enrichment?: string[];
  /** Blocks larger than this are not compared (and are reported). Default 2,000. */
  maxBlockSize?: number;
  /** Cron expression (croner) for scheduled runs, or absent for on demand only. */
  schedule?: { cron: string; timezone?: string };
}
