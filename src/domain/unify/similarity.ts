import jaroWinkler from 'talisman/metrics/jaro-winkler.js';
import { distance as levenshtein } from 'fastest-levenshtein';

export const SIMILARITY_NAMES = ['jaroWinkler', 'levenshtein', 'token'] as const;
export type SimilarityName = (typeof SIMILARITY_NAMES)[number];

export const PRECISIONS = ['exact', 'high', 'medium', 'low', 'custom'] as const;
export type Precision = (typeof PRECISIONS)[number];

/** The similarity a precision level asks for (Dynamics' levels); custom takes its own threshold. */
export const PRECISION_THRESHOLDS: Readonly<Record<Exclude<Precision, 'custom'>, number>> = {
  exact: 1,
  high: 0.8,
  medium: 0.6,
  low: 0.3,
};

/** Similarity of two normalized values in [0, 1] (1: the same). */
export function similarity(kind: SimilarityName, a: string, b: string): number {
  if (a === b) return 1;
  switch (kind) {
    case 'jaroWinkler':
      return jaroWinkler(a, b);
    case 'levenshtein':
      return 1 - levenshtein(a, b) / Math.max(a.length, b.length);
    case 'token':
      return tokenSimilarity(a, b);
  }
}

export { jaroWinkler, levenshtein };

/**
 * Token-based: the share of words in common (Jaccard over word sets), so that word order and
 * extra words count little ("smith john" ~ "john smith").
 */
function tokenSimilarity(a: string, b: string): number {
  const left = new Set(a.split(' '));
  const right = new Set(b.split(' '));
  let common = 0;
  for (const token of left) if (right.has(token)) common++;
  return common / (left.size + right.size - common);
}
