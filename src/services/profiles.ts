import { iso, type Clock } from '../domain/clock.js';
import { invalid, notFound } from '../domain/errors.js';
import type { JsonObject, JsonValue } from '../domain/json-path.js';
import { applyOverrides, type Override } from '../domain/profile/overrides.js';
import { viewOf } from './profile-view.js';
import type { DatasetDef, MergePolicyName } from '../domain/schema/model.js';
import { normalizeIdentity } from '../domain/identity/normalize.js';
import type { ActivityRow, ProfileBundle, ProfileReader } from '../ports/profile-store.js';
import type { Catalog, InstanceCatalog } from '../pipelines/ingest/catalog.js';

/** Where a field's value came from: a dataset's record, or a real-time update until it expires. */
export type FieldSourceDocument =
  | { source: 'dataset'; datasetId: string; datasetName: string | null; recordKey: string; lastUpdated: string }
  | { source: 'realtime'; lastUpdated: string; validUntil: string; caller: string | null };

export interface ProfileDocument {
  customerId: string;
  /** Set when the id asked for was merged into this profile. */
  resolvedFrom?: string;
  previousCustomerIds: string[];
  identities: Array<{ namespace: string; value: string; firstSeen: string }>;
  attributes: JsonObject;
  fieldSources: Record<string, FieldSourceDocument>;
  /** Attributes the last refresh derived by its enrichment steps (email domain, age band…). */
  enrichment: JsonObject;
  mergePolicy: MergePolicyName;
  createdAt: string;
  updatedAt: string;
}

export interface TimelineItem {
  activityId: string;
  customerId: string;
  datasetId: string;
  type: string | null;
  timestamp: string;
  receivedAt: string;
  validUntil: string | null;
  record: JsonObject;
}


export const toTimelineItem = (a: Omit<ActivityRow, 'hash'>): TimelineItem => ({
  activityId: a.activityId,
  customerId: a.customerId,
  datasetId: a.datasetId,
  type: a.type,
  timestamp: iso(a.timestamp),
  receivedAt: iso(a.receivedAt),
  validUntil: a.validUntil === null ? null : iso(a.validUntil),
  record: a.record,
});

/** The read side: unified profiles, their identities, fragments, timeline and merge history. */
export class ProfileService {
  constructor(
    private readonly reader: ProfileReader,
    private readonly catalog: Catalog,
    readonly clock: Clock,
  ) {}

  async catalogOf(instanceId: string): Promise<InstanceCatalog> {
    const c = await this.catalog.get(instanceId);
    if (!c) throw notFound('instance_not_found', `instance ${instanceId} does not exist`);
    return c;
  }

  /** Resolves a customerId, following merges; throws 404 when unknown. */
  async resolve(instanceId: string, customerId: string): Promise<string> {
    const id = await this.reader.resolveCustomerId(instanceId, customerId);
    if (!id) throw notFound('profile_not_found', `profile ${customerId} does not exist`);
    return id;
  }

  /** An identity `namespace:value` as stored: its value normalized as the namespace says (null: nothing usable is left). */
  private identityRef(catalog: InstanceCatalog, identity: string): { namespace: string; value: string } | null {
    const sep = identity.indexOf(':');
    if (sep <= 0) throw invalid('invalid_identity', 'identity must be namespace:value, e.g. email:jane@example.com');
    const ns = catalog.namespaces.find(identity.slice(0, sep));
    if (!ns) throw invalid('unknown_namespace', `namespace ${identity.slice(0, sep)} is not defined`);
    const value = normalizeIdentity(ns.normalizer, identity.slice(sep + 1), { defaultPhoneRegion: catalog.settings.defaultPhoneRegion });
    return value === null ? null : { namespace: ns.code, value };
  }

  /** Finds a profile by `namespace:value` (the value normalized as the namespace says). */
  async findByIdentity(instanceId: string, identity: string): Promise<string | undefined> {
    const ref = this.identityRef(await this.catalogOf(instanceId), identity);
    return ref ? this.reader.findByIdentity(instanceId, ref.namespace, ref.value) : undefined;
  }

  async profile(instanceId: string, requestedId: string, policy?: MergePolicyName): Promise<ProfileDocument> {
    const catalog = await this.catalogOf(instanceId);
    const bundle = await this.reader.profileBundle(instanceId, { customerId: requestedId });
    if (!bundle) throw notFound('profile_not_found', `profile ${requestedId} does not exist`);
    const doc = this.documentOf(catalog, bundle, policy);
    if (bundle.customerId !== requestedId) doc.resolvedFrom = requestedId;
    return doc;
  }

  /** The profile holding an identity `namespace:value`, read with it (one snapshot). */
  async profileByIdentity(instanceId: string, identity: string, policy?: MergePolicyName): Promise<ProfileDocument> {
    const catalog = await this.catalogOf(instanceId);
    const ref = this.identityRef(catalog, identity);
    const bundle = ref ? await this.reader.profileBundle(instanceId, ref) : undefined;
    if (!bundle) throw notFound('profile_not_found', `no profile holds identity ${identity}`);
    return this.documentOf(catalog, bundle, policy);
  }

  private documentOf(catalog: InstanceCatalog, bundle: ProfileBundle, policy: MergePolicyName | undefined): ProfileDocument {
    const { customerId, row, fragments, identities } = bundle;
    const mergePolicy = policy ?? catalog.settings.mergePolicy;
    const now = this.clock.now();
    const overrides: Override[] = bundle.overrides.map((o) => ({ path: o.path, value: JSON.parse(o.valueJson) as JsonValue, setAt: o.setAt, validUntil: o.validUntil, caller: o.caller }));
    const view = applyOverrides(viewOf(catalog, fragments, mergePolicy), overrides, now);
    const updatedAt = Math.max(
      fragments.reduce((max, f) => Math.max(max, f.receivedAt), row.updatedAt),
      ...Object.values(view.sources).map((s) => (s.kind === 'realtime' ? s.setAt : 0)),
    );
    const previous = bundle.previousIds;
    const doc: ProfileDocument = {
      customerId,
      previousCustomerIds: previous,
      identities: identities.map((i) => ({ namespace: i.namespace, value: i.value, firstSeen: iso(i.firstSeen) })),
      attributes: view.attributes,
      fieldSources: Object.fromEntries(
        Object.entries(view.sources).map(([path, s]): [string, FieldSourceDocument] => [
          path,
          s.kind === 'realtime'
            ? { source: 'realtime', lastUpdated: iso(s.setAt), validUntil: iso(s.validUntil), caller: s.caller }
            : { source: 'dataset', datasetId: s.datasetId, datasetName: catalog.datasetsById.get(s.datasetId)?.name ?? null, recordKey: s.recordKey, lastUpdated: iso(s.timestamp) },
        ]),
      ),
      enrichment: bundle.enrichment ?? {},
      mergePolicy,
      createdAt: iso(row.createdAt),
      updatedAt: iso(updatedAt),
    };
    return doc;
  }

  /** A profile by a source record's key (dataset name and record key), with its whole key ring. */
  async keyRing(instanceId: string, datasetName: string | undefined, key: string) {
    const catalog = await this.catalogOf(instanceId);
    if (!datasetName) throw invalid('dataset_required', 'name the dataset with entityName (or dataSourceName)');
    const dataset = catalog.dataset(datasetName);
    if (!dataset) throw notFound('dataset_not_found', `dataset ${datasetName} does not exist`);
    const found = await this.findRecord(catalog, dataset, key);
    if (!found) throw notFound('profile_not_found', `no record ${key} in dataset ${datasetName}`);
    const { customerId } = found;
    const [identities, fragments] = await Promise.all([this.reader.identities(instanceId, customerId), this.reader.fragments(instanceId, customerId)]);
    return {
      customerId,
      keyRing: [
        ...identities.map((i) => ({ kind: 'identity' as const, namespace: i.namespace, value: i.value })),
        ...fragments.map((f) => ({ kind: 'sourceKey' as const, dataSourceName: catalog.datasetsById.get(f.datasetId)?.name ?? f.datasetId, key: f.recordKey })),
      ],
    };
  }

  /**
   * A source record by key, and its profile. The record key is `namespace:value` of the record's
   * primary identity; a bare value is read in the namespace of the schema's primary identity field.
   */
  async findRecord(catalog: InstanceCatalog, dataset: DatasetDef, key: string): Promise<{ customerId: string; recordKey: string } | undefined> {
    const schema = catalog.schemaOf(dataset);
    const primary = schema.identities.find((d) => d.primary) ?? schema.identities[0];
    const candidates = [key, ...(primary && !key.includes(':') ? [`${catalog.namespaces.find(primary.namespace)?.code ?? primary.namespace}:${key}`] : [])];
    for (const recordKey of candidates) {
      const customerId = await this.reader.findByRecordKey(catalog.instance.id, dataset.id, recordKey);
      if (customerId) return { customerId, recordKey };
    }
    return undefined;
  }

  async identities(instanceId: string, requestedId: string) {
    const customerId = await this.resolve(instanceId, requestedId);
    const ids = await this.reader.identities(instanceId, customerId);
    return { customerId, identities: ids.map((i) => ({ namespace: i.namespace, value: i.value, firstSeen: iso(i.firstSeen) })) };
  }

  async fragments(instanceId: string, requestedId: string) {
    const catalog = await this.catalogOf(instanceId);
    const customerId = await this.resolve(instanceId, requestedId);
    const fragments = await this.reader.fragments(instanceId, customerId);
    return {
      customerId,
      fragments: fragments.map((f) => ({
        datasetId: f.datasetId,
        datasetName: catalog.datasetsById.get(f.datasetId)?.name ?? null,
        recordKey: f.recordKey,
        timestamp: iso(f.timestamp),
        receivedAt: iso(f.receivedAt),
        record: f.record,
      })),
    };
  }

  async merges(instanceId: string, requestedId: string) {
    const customerId = await this.resolve(instanceId, requestedId);
    const merges = await this.reader.merges(instanceId, customerId);
    return {
      customerId,
      merges: merges.map((m) => ({ id: m.id, survivorId: m.survivorId, absorbedId: m.absorbedId, datasetId: m.datasetId, recordKey: m.recordKey, at: iso(m.at) })),
    };
  }

  async timeline(
    instanceId: string,
    requestedId: string,
    q: { limit: number; cursor?: string; types?: string[]; from?: number; to?: number; order?: 'asc' | 'desc' },
  ): Promise<{ customerId: string; items: TimelineItem[]; nextCursor: string | null }> {
    const customerId = await this.resolve(instanceId, requestedId);
    let before: { timestamp: number; activityId: string } | undefined;
    if (q.cursor) {
      try {
        const decoded = JSON.parse(Buffer.from(q.cursor, 'base64url').toString('utf8')) as [number, string];
        if (typeof decoded[0] !== 'number' || typeof decoded[1] !== 'string') throw new Error('bad cursor');
        before = { timestamp: decoded[0], activityId: decoded[1] };
      } catch {
        throw invalid('invalid_cursor', 'cursor is not one this API returned');
      }
    }
    const rows = await this.reader.timeline(instanceId, customerId, {
      limit: q.limit + 1,
      now: this.clock.now(),
      order: q.order ?? 'desc',
      ...(before ? { before } : {}),
      ...(q.types ? { types: q.types } : {}),
      ...(q.from !== undefined ? { from: q.from } : {}),
      ...(q.to !== undefined ? { to: q.to } : {}),
    });
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    const nextCursor = rows.length > q.limit && last ? Buffer.from(JSON.stringify([last.timestamp, last.activityId])).toString('base64url') : null;
    return { customerId, items: page.map(toTimelineItem), nextCursor };
  }
}
