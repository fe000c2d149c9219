import type { UnificationConfig } from './config.js';
import { ENRICHMENT_NAMES } from './enrich.js';

export interface ConfigProblem {
  path: string;
  message: string;
}

/**
 * What is wrong with a unification configuration given the instance's datasets (name → whether
 * it is enabled for profile). Empty when it can run.
 */
export function configProblems(config: UnificationConfig, datasets: ReadonlyMap<string, { enabledForProfile: boolean }>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const named = new Set<string>();
  config.datasets.forEach((d, i) => {
    const known = datasets.get(d.dataset);
    if (!known) problems.push({ path: `/datasets/${i}/dataset`, message: `dataset ${d.dataset} does not exist` });
    else if (!known.enabledForProfile) problems.push({ path: `/datasets/${i}/dataset`, message: `dataset ${d.dataset} is not enabled for profile, so it has no records to unify` });
    if (named.has(d.dataset)) problems.push({ path: `/datasets/${i}/dataset`, message: `dataset ${d.dataset} is listed twice` });
    named.add(d.dataset);
  });
  (config.pairs ?? []).forEach((p, i) => {
    p.datasets.forEach((name, k) => {
      if (!named.has(name)) problems.push({ path: `/pairs/${i}/datasets/${k}`, message: `dataset ${name} is not in the match order (datasets)` });
    });
  });
  const rules = [
    ...config.datasets.flatMap((d, i) => (d.dedupRules ?? []).map((r, k) => ({ r, path: `/datasets/${i}/dedupRules/${k}` }))),
    ...(config.pairs ?? []).flatMap((p, i) => p.rules.map((r, k) => ({ r, path: `/pairs/${i}/rules/${k}` }))),
  ];
  for (const { r, path } of rules) {
    if (r.conditions.length === 0) problems.push({ path: `${path}/conditions`, message: 'a rule needs at least one condition' });
    r.conditions.forEach((c, k) => {
      if (c.precision === 'custom' && (c.threshold === undefined || c.threshold <= 0 || c.threshold > 1)) {
        problems.push({ path: `${path}/conditions/${k}/threshold`, message: 'a custom precision needs a threshold above 0 and at most 1' });
      }
    });
  }
  if (config.mode === 'rules' && rules.length === 0 && (config.alwaysMatch ?? []).length === 0) {
    problems.push({ path: '/datasets', message: 'rules mode needs at least one rule (dedupRules of a dataset, or rules of a pair)' });
  }
  if (config.mode === 'probabilistic') {
    if (!config.probabilistic || config.probabilistic.comparisons.length === 0) problems.push({ path: '/probabilistic/comparisons', message: 'probabilistic mode needs comparisons' });
    if (!config.blocking || config.blocking.length === 0) problems.push({ path: '/blocking', message: 'probabilistic mode needs blocking keys (they choose the pairs it scores)' });
  }
  (config.enrichment ?? []).forEach((name, i) => {
    if (!ENRICHMENT_NAMES.includes(name)) problems.push({ path: `/enrichment/${i}`, message: `unknown enrichment step ${name}; known: ${ENRICHMENT_NAMES.join(', ')}` });
  });
  for (const [list, refs] of [['alwaysMatch', config.alwaysMatch ?? []], ['neverMatch', config.neverMatch ?? []]] as const) {
    refs.forEach((pair, i) =>
      pair.forEach((ref, k) => {
        const slash = ref.indexOf('/');
        if (slash <= 0 || !named.has(ref.slice(0, slash))) problems.push({ path: `/${list}/${i}/${k}`, message: `${ref} must be dataset/recordKey with a dataset of the match order` });
      }),
    );
  }
  return problems;
}
