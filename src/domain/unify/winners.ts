import type { WinnerRule } from './config.js';

export interface WinnerCandidate {
  key: string;
  timestamp: number;
  filled: number;
}

/**
 * The duplicate whose attributes a profile takes for one dataset: the most filled, the most
 * recent or the least recent record; a tie goes to the larger primary key.
 */
export function pickWinner<T extends WinnerCandidate>(candidates: readonly T[], rule: WinnerRule): T {
  let best = candidates[0]!;
  for (let i = 1; i < candidates.length; i++) {
    const c = candidates[i]!;
    const order = compare(c, best, rule);
    if (order > 0 || (order === 0 && c.key > best.key)) best = c;
  }
  return best;
}

function compare(a: WinnerCandidate, b: WinnerCandidate, rule: WinnerRule): number {
  switch (rule) {
    case 'mostFilled':
      return a.filled - b.filled;
    case 'mostRecent':
      return a.timestamp - b.timestamp;
    case 'leastRecent':
      return b.timestamp - a.timestamp;
  }
}
