import { extractIdentities, identityKey } from '../../domain/identity/extract.js';
import { invalid } from '../../domain/errors.js';
import { getPath, type JsonObject, type JsonValue } from '../../domain/json-path.js';
import { mergeFragments, type Fragment } from '../../domain/profile/merge-policy.js';
import type { UnificationConfig } from '../../domain/unify/config.js';
import { enrich } from '../../domain/unify/enrich.js';
import type { StoredModel } from '../../domain/unify/fellegi-sunter.js';
import type { MatchRecord } from '../../domain/unify/match-record.js';
import { assignStableIds } from '../../domain/unify/stable-ids.js';
import { unify } from '../../domain/unify/unify.js';
import { configProblems } from '../../domain/unify/validate-config.js';
import { pickWinner } from '../../domain/unify/winners.js';
import type { ProfileTx, ProfileWriter, RefreshPublication } from '../../ports/profile-store.js';
import type { RefreshCounts, RefreshStage } from '../../ports/refresh-runs.js';
import type { Catalog, InstanceCatalog } from '../ingest/catalog.js';

export interface RefreshDeps {
  writer: ProfileWriter;
  catalog: Catalog;
  now: () => number;
  newId: () => string;
}

export interface RefreshResult {
  stages: RefreshStage[];
  counts: RefreshCounts;
  /** Probabilistic runs: the trained model (to explain matches with later). */
  model?: StoredModel;
}

/** A record as extracted: what matching needs, plus what publishing and enrichment need. */
interface Extracted {
  datasetId: string;
  identities: Array<{ namespace: string; value: string }>;
  previousId: string;
  wasLoser: boolean;
  record: JsonObject;
}

const PAGE = 5000;

/**
 * One refresh run for an instance: extract (every fragment) → unify (identity links, rules or
 * the probabilistic model, always/never lists) → deduplication winners and stable ids → enrich →
 * publish. It all happens in one write transaction, so readers keep the previous result until the
 * whole new one commits, and a run that fails anywhere leaves it untouched.
 */
export async function runRefresh(deps: RefreshDeps, instanceId: string, runId: string, config: UnificationConfig, onStage: (stage: string) => void): Promise<RefreshResult> {
  const catalog = await deps.catalog.get(instanceId);
  if (!catalog) throw invalid('instance_not_found', `instance ${instanceId} does not exist`);
  const stages: RefreshStage[] = [];
  let stageStart = performance.now();
  const stage = (name: string): void => {
    const now = performance.now();
    if (stages.length > 0) stages[stages.length - 1]!.ms = Math.round(now - stageStart);
    stageStart = now;
    if (name !== '') {
      stages.push({ name, ms: 0 });
      onStage(name);
    }
  };

  return deps.writer.transaction(async (tx) => {
    await tx.holdOffWriters();
    stage('extract');
    const problems = configProblems(config, new Map([...catalog.datasetsByName].map(([name, d]) => [name, d])));
    if (problems.length > 0) {
      throw invalid('invalid_unification_config', `the unification configuration no longer fits the instance: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, problems);
    }
    const { records, extracted, effective } = await extract(tx, catalog, config, instanceId);

    stage('unify');
    const result = unify(records, effective, { defaultPhoneRegion: catalog.settings.defaultPhoneRegion, nameAliases: new Map(Object.entries(config.nameAliases ?? {})) }, { uniqueNamespaces: catalog.uniqueNamespaces });
    const clusterIndex = new Map<number, number>();
    const clusterOf = new Int32Array(records.length);
    for (let r = 0; r < records.length; r++) {
      const root = result.clusterOf[r]!;
      let c = clusterIndex.get(root);
      if (c === undefined) clusterIndex.set(root, (c = clusterIndex.size));
      clusterOf[r] = c;
    }
    const members: number[][] = Array.from({ length: clusterIndex.size }, () => []);
    for (let r = 0; r < records.length; r++) members[clusterOf[r]!]!.push(r);
    const ids = assignStableIds(
      extracted.map((e) => e.previousId),
      clusterOf,
      members.length,
      deps.newId,
    );
    const losers = duplicateLosers(records, members, effective);

    stage('enrich');
    const enrichments: RefreshPublication['enrichments'] = [];
    const steps = config.enrichment ?? [];
    const now = deps.now();
    if (steps.length > 0) {
      members.forEach((rs, c) => {
        const fragments: Fragment[] = rs.filter((r) => !losers.has(r)).map((r) => fragmentOf(catalog, records[r]!, extracted[r]!));
        const view = mergeFragments(fragments, catalog.settings.mergePolicy, config.merge ?? []);
        const identities = rs.flatMap((r) => extracted[r]!.identities);
        const attributes = enrich(steps, { attributes: view.attributes, identities, now, defaultPhoneRegion: catalog.settings.defaultPhoneRegion });
        if (Object.keys(attributes).length > 0) enrichments.push({ customerId: ids.clusterIds[c]!, attributesJson: JSON.stringify(attributes) });
      });
    }

    stage('publish');
    const publication: RefreshPublication = { runId, at: now, created: [], absorbed: ids.absorbed, fragments: [], identities: [], enrichments };
    const existing = new Set(extracted.map((e) => e.previousId));
    for (const id of ids.clusterIds) if (!existing.has(id)) publication.created.push(id);
    for (let r = 0; r < records.length; r++) {
      const customerId = ids.clusterIds[clusterOf[r]!]!;
      const e = extracted[r]!;
      const loser = losers.has(r);
      if (customerId !== e.previousId || loser !== e.wasLoser) {
        publication.fragments.push({ datasetId: e.datasetId, recordKey: records[r]!.key, customerId, dedupLoser: loser });
      }
      if (customerId !== e.previousId) for (const i of e.identities) publication.identities.push({ ...i, customerId });
    }
    await tx.publishRefresh(instanceId, publication);
    stage('');
    return {
      stages,
      counts: {
        records: records.length,
        pairsCompared: result.pairsCompared,
        pairsMatched: result.pairsMatched,
        identityLinks: result.identityLinks,
        clusters: members.length,
        clustersCreated: ids.created,
        clustersMerged: ids.absorbed.length,
        clustersSplit: ids.split,
        duplicatesSuppressed: losers.size,
        blocksSkipped: result.blocking.blocksSkipped,
        enriched: enrichments.length,
      },
      ...(result.scorer ? { model: result.scorer.export() } : {}),
    };
  });
}

/** Every fragment of the instance as a match record; datasets outside the match order link by identities only. */
async function extract(tx: ProfileTx, catalog: InstanceCatalog, config: UnificationConfig, instanceId: string) {
  const effective: UnificationConfig = { ...config, datasets: [...config.datasets] };
  const order = new Map<string, number>();
  effective.datasets.forEach((d, i) => order.set(catalog.dataset(d.dataset)!.id, i));
  const fields = usedFields(config);
  const records: MatchRecord[] = [];
  const extracted: Extracted[] = [];
  let after: { datasetId: string; recordKey: string } | null = null;
  for (;;) {
    const page = await tx.scanFragments(instanceId, after, PAGE);
    for (const row of page) {
      const dataset = catalog.datasetsById.get(row.datasetId);
      if (!dataset) continue;
      let index = order.get(row.datasetId);
      if (index === undefined) {
        index = effective.datasets.length;
        order.set(row.datasetId, index);
        effective.datasets.push({ dataset: dataset.name });
      }
      const record = JSON.parse(row.recordJson) as JsonObject;
      const values = matchValues(record, fields, effective.datasets[index]!.fields);
      const { identities } = extractIdentities(record, catalog.schemaOf(dataset), catalog.namespaces, catalog.blocked, { defaultPhoneRegion: catalog.settings.defaultPhoneRegion });
      const ids = identities.map((i) => ({ namespace: i.namespace, value: i.value }));
      records.push({ dataset: index, key: row.recordKey, timestamp: row.timestamp, values, identities: ids.map(identityKey), filled: filledLeaves(record) });
      extracted.push({ datasetId: row.datasetId, identities: ids, previousId: row.customerId, wasLoser: row.dedupLoser, record });
    }
    if (page.length < PAGE) break;
    const last = page[page.length - 1]!;
    after = { datasetId: last.datasetId, recordKey: last.recordKey };
  }
  return { records, extracted, effective };
}

/** A record's values of the canonical fields, through its dataset's field mapping. */
export function matchValues(record: JsonObject, fields: Iterable<string>, mapping: Readonly<Record<string, string>> = {}): Record<string, string | null> {
  const values: Record<string, string | null> = {};
  for (const field of fields) {
    const v = getPath(record, mapping[field] ?? field);
    values[field] = v === null || v === undefined || typeof v === 'object' ? null : String(v);
  }
  return values;
}

/** Every canonical field the configuration compares or blocks on. */
export function usedFields(config: UnificationConfig): Set<string> {
  const fields = new Set<string>();
  for (const d of config.datasets) for (const r of d.dedupRules ?? []) for (const c of r.conditions) fields.add(c.field);
  for (const p of config.pairs ?? []) for (const r of p.rules) for (const c of r.conditions) fields.add(c.field);
  for (const b of config.blocking ?? []) for (const part of b.parts) fields.add(part.field);
  for (const c of config.probabilistic?.comparisons ?? []) fields.add(c.field);
  return fields;
}

/** Within each cluster, the records of one dataset beyond its winner. */
function duplicateLosers(records: readonly MatchRecord[], members: readonly number[][], config: UnificationConfig): Set<number> {
  const losers = new Set<number>();
  for (const rs of members) {
    if (rs.length < 2) continue;
    const byDataset = new Map<number, number[]>();
    for (const r of rs) {
      const list = byDataset.get(records[r]!.dataset) ?? [];
      list.push(r);
      byDataset.set(records[r]!.dataset, list);
    }
    for (const [dataset, list] of byDataset) {
      if (list.length < 2) continue;
      const winner = pickWinner(list.map((r) => ({ r, key: records[r]!.key, timestamp: records[r]!.timestamp, filled: records[r]!.filled })), config.datasets[dataset]!.winner ?? 'mostFilled');
      for (const r of list) if (r !== winner.r) losers.add(r);
    }
  }
  return losers;
}

function fragmentOf(catalog: InstanceCatalog, record: MatchRecord, e: Extracted): Fragment {
  return catalog.mergeInput({ datasetId: e.datasetId, recordKey: record.key, timestamp: record.timestamp, record: e.record });
}

/** How many leaves of a record hold a value (identityMap left out). */
function filledLeaves(value: JsonValue, top = true): number {
  if (value === null || value === '') return 0;
  if (typeof value !== 'object') return 1;
  if (Array.isArray(value)) return value.length > 0 ? 1 : 0;
  let n = 0;
  for (const key in value) if (!(top && key === 'identityMap')) n += filledLeaves(value[key]!, false);
  return n;
}
