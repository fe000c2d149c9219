import doubleMetaphone from 'talisman/phonetics/double-metaphone.js';
import soundex from 'talisman/phonetics/soundex.js';
import type { BlockingKey, MatchRule } from './config.js';
import type { Columns } from './match-record.js';

export interface BlockingStats {
  /** Blocks larger than the limit, not compared. */
  blocksSkipped: number;
  recordsInSkippedBlocks: number;
}

/**
 * Calls `visit(i, j)` (i < j) for every pair of records that share a value of the key. Blocks
 * over `maxBlockSize` are skipped and counted, so cost stays near-linear in the record count.
 */
export function forEachBlockedPair(
  columns: Columns,
  count: number,
  key: BlockingKey,
  maxBlockSize: number,
  stats: BlockingStats,
  visit: (i: number, j: number) => void,
): void {
  const blocks = new Map<string, number[]>();
  const parts = key.parts.map((part) => ({ part, column: columns.get(part.field, part.normalizers ?? ['case', 'whitespace']) }));
  const transformed = parts.map(() => new Map<string, string>());
  for (let i = 0; i < count; i++) {
    let blockKey = '';
    let complete = true;
    for (let p = 0; p < parts.length; p++) {
      const { part, column } = parts[p]!;
      const raw = column[i];
      if (raw === null || raw === undefined) {
        complete = false;
        break;
      }
      let value = transformed[p]!.get(raw);
      if (value === undefined) {
        value = transform(raw, part.transform ?? 'value', part.length);
        transformed[p]!.set(raw, value);
      }
      if (value === '') {
        complete = false;
        break;
      }
      blockKey += p === 0 ? value : `\u0000${value}`;
    }
    if (!complete) continue;
    const block = blocks.get(blockKey);
    if (block) block.push(i);
    else blocks.set(blockKey, [i]);
  }
  for (const block of blocks.values()) {
    if (block.length < 2) continue;
    if (block.length > maxBlockSize) {
      stats.blocksSkipped++;
      stats.recordsInSkippedBlocks += block.length;
      continue;
    }
    for (let a = 0; a < block.length; a++) for (let b = a + 1; b < block.length; b++) visit(block[a]!, block[b]!);
  }
}

function transform(value: string, kind: NonNullable<BlockingKey['parts'][number]['transform']>, length = 3): string {
  switch (kind) {
    case 'value':
      return value;
    case 'prefix':
      return value.slice(0, length);
    case 'soundex':
      return /[a-z]/i.test(value) ? soundex(value.replace(/[^a-z]/gi, '')) : '';
    case 'metaphone':
      return doubleMetaphone(value.replace(/[^a-z]/gi, ''))[0];
  }
}

/**
 * Blocking keys when none are configured: each rule's exact conditions together (a rule with
 * none blocks on the first three characters of its first condition).
 */
export function blockingFromRules(rules: readonly MatchRule[]): BlockingKey[] {
  const keys = new Map<string, BlockingKey>();
  for (const rule of rules) {
    const exact = rule.conditions.filter((c) => (c.precision ?? 'exact') === 'exact');
    const key: BlockingKey =
      exact.length > 0
        ? { parts: exact.map((c) => ({ field: c.field, normalizers: c.normalizers ?? [] })) }
        : { parts: [{ field: rule.conditions[0]!.field, normalizers: rule.conditions[0]!.normalizers ?? [], transform: 'prefix', length: 3 }] };
    keys.set(JSON.stringify(key), key);
  }
  return [...keys.values()];
}
