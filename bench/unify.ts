/**
 * npm run bench:unify -- --data <file.csv> [--config <config.json>] [--mode rules|probabilistic]
 * npm run bench:unify -- --generate 1000000
 *
 * With --data: unifies a file with ground truth (Febrl: `rec_id` = rec-N-…; Splink fake_1000:
 * `cluster`) by the committed rule configuration and by the probabilistic model, and prints
 * pairwise precision, recall and F1, the pairs compared and the time of each.
 * With --generate: see bench/unify/generated.ts.
 */
import { parse } from 'csv-parse/sync';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { UnificationConfig } from '../src/domain/unify/config.js';
import { bestThreshold, pairwiseQuality } from '../src/domain/unify/evaluate.js';
import { probabilityOf } from '../src/domain/unify/fellegi-sunter.js';
import type { MatchRecord } from '../src/domain/unify/match-record.js';
import { unify } from '../src/domain/unify/unify.js';
import { report, round } from './lib/harness.js';
import { runGenerated } from './unify/generated.js';

const option = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const log = (msg: string): void => void process.stderr.write(`[bench:unify] ${msg}\n`);

if (option('generate')) {
  await runGenerated(Number(option('generate')), log);
} else {
  const file = option('data') ?? join(import.meta.dirname, '..', '..', 'shared', 'data', 'febrl', 'dataset3.csv');
  const rows = parse(readFileSync(file), { columns: true, trim: true, skip_empty_lines: true }) as Array<Record<string, string>>;
  const isFebrl = 'rec_id' in rows[0]!;
  const family = isFebrl ? 'febrl' : 'fake_1000';
  const truth = rows.map((r) => (isFebrl ? /^rec-(\d+)-/.exec(r.rec_id!)![1]! : r.cluster!));
  const records: MatchRecord[] = rows.map((r) => {
    const values: Record<string, string | null> = {};
    for (const [k, v] of Object.entries(r)) if (k !== 'cluster' && k !== 'rec_id' && k !== 'unique_id') values[k] = v === '' ? null : v;
    return { dataset: 0, key: isFebrl ? r.rec_id! : r.unique_id!, timestamp: 0, values, identities: [], filled: 0 };
  });
  const modes = option('mode') ? [option('mode')!] : ['rules', 'probabilistic'];
  const figures: Record<string, number> = { records: records.length };
  for (const mode of modes) {
    const configFile = option('config') ?? join(import.meta.dirname, 'unify', `${family}.${mode}.json`);
    const config = JSON.parse(readFileSync(configFile, 'utf8')) as UnificationConfig;
    const started = performance.now();
    const result = unify(records, config, { defaultPhoneRegion: 'AU' }, { keepScores: true });
    const ms = performance.now() - started;
    const q = pairwiseQuality(result.clusterOf, truth);
    const prefix = mode === 'rules' ? 'rules' : 'prob';
    log(`${mode} (${basename(configFile)}): P ${q.precision.toFixed(4)} R ${q.recall.toFixed(4)} F1 ${q.f1.toFixed(4)}, ${result.pairsCompared} pairs compared, ${Math.round(ms)} ms`);
    Object.assign(figures, {
      [`${prefix}_precision_ratio`]: round(q.precision, 4),
      [`${prefix}_recall_ratio`]: round(q.recall, 4),
      [`${prefix}_f1_ratio`]: round(q.f1, 4),
      [`${prefix}_pairs_compared_count`]: result.pairsCompared,
      [`${prefix}_time_ms`]: Math.round(ms),
    });
    if (result.scored) {
      const { left, right, weight } = result.scored;
      const best = bestThreshold(records.length, truth, left, right, weight);
      log(`probabilistic best threshold: match weight ${best.threshold.toFixed(2)} (p ${probabilityOf(best.threshold).toFixed(4)}): P ${best.quality.precision.toFixed(4)} R ${best.quality.recall.toFixed(4)} F1 ${best.quality.f1.toFixed(4)}`);
      figures.prob_best_f1_ratio = round(best.quality.f1, 4);
      figures.prob_best_threshold_probability_ratio = round(probabilityOf(best.threshold), 6);
    }
  }
  const anchor = isFebrl ? 0.9954 : 0.862;
  report(`unify-${basename(file, '.csv')}`, figures, { splink_best_f1_ratio: anchor });
}
