import { invalid, notFound } from '../domain/errors.js';
import type { JsonObject } from '../domain/json-path.js';
import { FellegiSunter, type StoredModel } from '../domain/unify/fellegi-sunter.js';
import { Columns, type MatchRecord } from '../domain/unify/match-record.js';
import { explainRules } from '../domain/unify/rule-matcher.js';
import type { ControlStore } from '../ports/control-store.js';
import type { ProfileReader } from '../ports/profile-store.js';
import type { RefreshRunStore } from '../ports/refresh-runs.js';
import type { Catalog, InstanceCatalog } from '../pipelines/ingest/catalog.js';
import { matchValues, usedFields } from '../pipelines/refresh/run-refresh.js';
import type { ProfileService } from './profiles.js';

interface FoundRecord {
  dataset: string;
  recordKey: string;
  customerId: string;
  record: JsonObject;
}

/**
 * Explains why two source records match or not under the instance's unification settings: rule
 * by rule and condition by condition, or (probabilistic mode) comparison by comparison with the
 * weights of the model the last run trained.
 */
export class MatchExplainer {
  constructor(private readonly deps: { catalog: Catalog; control: ControlStore; runs: RefreshRunStore; profiles: ProfileService; reader: ProfileReader }) {}

  async explain(instanceId: string, leftRef: string, rightRef: string) {
    const catalog = await this.deps.catalog.get(instanceId);
    if (!catalog) throw notFound('instance_not_found', `instance ${instanceId} does not exist`);
    const config = await this.deps.control.getUnificationConfig(instanceId);
    if (!config) throw notFound('unification_not_configured', 'this instance has no unification settings yet; PUT them to manage/unification');
    const [left, right] = await Promise.all([this.record(catalog, leftRef), this.record(catalog, rightRef)]);
    const datasets = [...config.datasets];
    const indexOf = (name: string): number => {
      let i = datasets.findIndex((d) => d.dataset === name);
      if (i < 0) i = datasets.push({ dataset: name }) - 1;
      return i;
    };
    const fields = usedFields(config);
    const asMatch = (f: FoundRecord): MatchRecord => {
      const index = indexOf(f.dataset);
      return { dataset: index, key: f.recordKey, timestamp: 0, values: matchValues(f.record, fields, datasets[index]!.fields), identities: [], filled: 0 };
    };
    const a = asMatch(left);
    const b = asMatch(right);
    const ctx = { defaultPhoneRegion: catalog.settings.defaultPhoneRegion, nameAliases: new Map(Object.entries(config.nameAliases ?? {})) };
    const ref = (f: FoundRecord) => ({ dataset: f.dataset, recordKey: f.recordKey, customerId: f.customerId });
    const base = { left: ref(left), right: ref(right), sameProfile: left.customerId === right.customerId };
    if (config.mode === 'rules') {
      const rules = explainRules({ ...config, datasets }, a, b, ctx);
      return { ...base, mode: 'rules' as const, matched: rules.some((r) => r.matched), rules };
    }
    const trained = await this.deps.runs.latestModel(instanceId);
    if (!trained) throw notFound('model_not_trained', 'no refresh has trained the probabilistic model yet; run a refresh first');
    const settings = config.probabilistic!;
    const model = new FellegiSunter(settings.comparisons, new Columns([a, b], ctx), trained.model as StoredModel);
    const explanation = model.explain(0, 1);
    const threshold = settings.threshold ?? 0.9;
    return { ...base, mode: 'probabilistic' as const, runId: trained.runId, threshold, matched: explanation.probability >= threshold, ...explanation };
  }

  /** `dataset/recordKey` (the key as in the key ring, or the bare value of the primary identity). */
  private async record(catalog: InstanceCatalog, ref: string): Promise<FoundRecord> {
    const slash = ref.indexOf('/');
    if (slash <= 0) throw invalid('invalid_record_reference', `${ref} must be dataset/recordKey`);
    const dataset = catalog.dataset(ref.slice(0, slash));
    if (!dataset) throw notFound('dataset_not_found', `dataset ${ref.slice(0, slash)} does not exist`);
    const found = await this.deps.profiles.findRecord(catalog, dataset, ref.slice(slash + 1));
    if (!found) throw notFound('record_not_found', `no record ${ref.slice(slash + 1)} in dataset ${dataset.name}`);
    const fragment = (await this.deps.reader.fragments(catalog.instance.id, found.customerId)).find((f) => f.datasetId === dataset.id && f.recordKey === found.recordKey);
    if (!fragment) throw notFound('record_not_found', `no record ${ref.slice(slash + 1)} in dataset ${dataset.name}`);
    return { dataset: dataset.name, recordKey: found.recordKey, customerId: found.customerId, record: fragment.record };
  }
}
