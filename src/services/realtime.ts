import type { ValidateFunction } from 'ajv';
import { holdsNul, nulMessage } from '../domain/nul.js';
import type { Clock } from '../domain/clock.js';
import { conflict, invalid, notFound } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import { exceedsDepth, isObject, type JsonObject, type JsonValue } from '../domain/json-path.js';
import { DEFAULT_ACTIVITY_TTL_MS, DEFAULT_OVERRIDE_TTL_MS, resolveValidUntil } from '../domain/profile/overrides.js';
import { subschemaAt } from '../domain/schema/describe.js';
import type { ActivityRow, ProfileReader } from '../ports/profile-store.js';
import type { Committer } from '../pipelines/apply/committer.js';
import { activityOf } from '../pipelines/apply/store-record.js';
import { createAjv, type Catalog, type InstanceCatalog } from '../pipelines/ingest/catalog.js';
import { MAX_RECORD_DEPTH, prepareRecord } from '../pipelines/ingest/prepare-record.js';
import { overrideLeaves, overrideRecord, unifiedActivityRecord } from '../pipelines/ingest/prepare-realtime.js';
import type { ApplyOutcome, PreparedRecord, Receipt } from '../pipelines/records.js';
import { toTimelineItem, type TimelineItem } from './profiles.js';


const KNOWN_PROFILES_MAX = 100_000;

/** The activity a real-time record has just become (as the writer stored it). */
const appliedActivity = (r: PreparedRecord, customerId: string): Omit<ActivityRow, 'hash'> => {
  const { json: _json, hash: _hash, ...activity } = activityOf(r, customerId, '', '');
  return { ...activity, record: JSON.parse(r.recordJson) as JsonObject };
};

export interface RealtimeOptions {
  validUntil?: number;
  caller: string | null;
  requestId: string;
}

export interface UnifiedActivityInput {
  ActivityId?: string;
  CustomerId: string;
  ActivityTime: string;
  ActivityType: string;
  ActivityTypeDisplay?: string;
  SourceTableName?: string;
  SourceActivityId?: string;
  Title?: string;
  Description?: string;
  URL?: string;
  SemanticData?: Record<string, unknown>;
}

export interface ActivityResult {
  created: boolean;
  activity: TimelineItem;
}

/**
 * The real-time API (Dynamics-style): field updates that override source values until they
 * expire, and activities that join the timeline at once and leave it at `validUntil`. Changes go
 * through the lake and the writer like all data, and the answer comes once they are applied, so
 * a read issued after it sees the change.
 */
export class RealtimeService {
  private readonly ajv = createAjv();
  private readonly fieldValidators = new Map<string, ValidateFunction>();
  /**
   * Profiles seen to exist (`precheck` only). The check before a change keeps changes to unknown
   * profiles out of the log and the lake; the writer checks again (authoritatively) as it
   * applies, so a profile deleted or merged since is still answered right.
   */
  private readonly knownProfiles = new Set<string>();

  /**
   * `precheck`: check here that the profile exists before committing (scale-out: a change is put
   * in the log, for the lake, before it is applied). Otherwise the writer checks, before the lake.
   */
  constructor(private readonly deps: { catalog: Catalog; reader: ProfileReader; committer: Committer; clock: Clock; precheck?: boolean }) {}

  private async catalogOf(instanceId: string): Promise<InstanceCatalog> {
    const c = await this.deps.catalog.get(instanceId);
    if (!c) throw notFound('instance_not_found', `instance ${instanceId} does not exist`);
    return c;
  }

  private receipt(o: RealtimeOptions): Receipt {
    return { requestId: o.requestId, receivedAt: this.deps.clock.now(), path: 'realtime', caller: o.caller };
  }

  private expiry(requested: number | undefined, now: number, ttl: number): number {
    const v = resolveValidUntil(requested, now, ttl);
    if (!v.ok) throw invalid('invalid_valid_until', `${v.message}; give an RFC 3339 time within the next 30 days`);
    return v.validUntil;
  }

  /** False when the profile surely does not exist (checked here only with `precheck`; the writer checks anyway). */
  private async profileExists(instanceId: string, customerId: string): Promise<boolean> {
    if (!this.deps.precheck) return true;
    const key = `${instanceId}\u0000${customerId}`;
    if (this.knownProfiles.has(key)) return true;
    if ((await this.deps.reader.resolveCustomerId(instanceId, customerId)) === undefined) return false;
    if (this.knownProfiles.size >= KNOWN_PROFILES_MAX) this.knownProfiles.clear();
    this.knownProfiles.add(key);
    return true;
  }

  private async commitOne(r: PreparedRecord): Promise<ApplyOutcome> {
    const [outcome] = await this.deps.committer.submit({ instanceId: r.instanceId, records: [r], failed: [] });
    return outcome!;
  }

  /** Checks each field against the instance's profile schemas: it must be declared, and its value must fit. */
  validateFields(catalog: InstanceCatalog, fields: JsonObject): Map<string, JsonValue> {
    const profileSchemas = catalog.profileSchemas;
    const leaves = overrideLeaves(catalog, fields);
    if (leaves.size === 0) throw invalid('no_fields', 'send a JSON object with at least one field to update');
    const problems: Array<{ path: string; keyword: string; message: string }> = [];
    for (const [path, value] of leaves) {
      const found = profileSchemas.map((s) => ({ s, sub: subschemaAt(s.jsonSchema, path) })).find((x) => x.sub !== undefined);
      const pointer = `/${path.replaceAll('.', '/')}`;
      if (!found) {
        problems.push({ path: pointer, keyword: 'unknown_field', message: `field ${path} is not declared by any profile schema` });
        continue;
      }
      const key = `${found.s.id}:${path}`;
      let validate = this.fieldValidators.get(key);
      if (!validate) {
        validate = this.ajv.compile(found.sub!);
        this.fieldValidators.set(key, validate);
      }
      if (value !== null && !validate(value)) {
        for (const e of validate.errors ?? []) problems.push({ path: pointer + e.instancePath, keyword: e.keyword, message: `${path} ${e.message ?? 'is invalid'}` });
      }
    }
    if (problems.length > 0) {
      throw invalid(problems[0]!.keyword === 'unknown_field' ? 'unknown_field' : 'invalid_field', problems.map((p) => p.message).join('; '), problems);
    }
    return leaves;
  }

  /** PATCH …/data/Customer/{customerId}: overrides those fields until `validUntil` (default 4 h). */
  async updateCustomer(instanceId: string, customerId: string, body: JsonValue, o: RealtimeOptions): Promise<string> {
    const catalog = await this.catalogOf(instanceId);
    if (!isObject(body)) throw invalid('invalid_body', 'the body is a JSON object of the fields to update');
    if (exceedsDepth(body, MAX_RECORD_DEPTH)) throw invalid('record_too_deep', `the body nests deeper than ${MAX_RECORD_DEPTH} levels`);
    const leaves = this.validateFields(catalog, body);
    const receipt = this.receipt(o);
    const validUntil = this.expiry(o.validUntil, receipt.receivedAt, DEFAULT_OVERRIDE_TTL_MS);
    if (!(await this.profileExists(instanceId, customerId))) {
      throw notFound('profile_not_found', `profile ${customerId} does not exist; the real-time API updates profiles, it does not create them`);
    }
    const outcome = await this.commitOne(overrideRecord({ instanceId, recordId: newId(), customerId, body, leaves, validUntil, receipt }));
    if (outcome.status === 'not_found') throw notFound('profile_not_found', `profile ${customerId} does not exist; the real-time API updates profiles, it does not create them`);
    return outcome.customerId!;
  }

  /** POST …/data/UnifiedActivity. */
  async createUnifiedActivity(instanceId: string, input: UnifiedActivityInput, o: RealtimeOptions): Promise<ActivityResult> {
    await this.catalogOf(instanceId);
    const receipt = this.receipt(o);
    const validUntil = this.expiry(o.validUntil, receipt.receivedAt, DEFAULT_ACTIVITY_TTL_MS);
    const body = { ...input, ActivityId: input.ActivityId ?? newId() } as JsonObject;
    const withNul = (['ActivityId', 'ActivityType', 'CustomerId'] as const).filter((f) => holdsNul(body[f]));
    if (withNul.length > 0) throw invalid('nul_character', `${nulMessage(withNul.join(', '))}; remove it`);
    const record = unifiedActivityRecord({ instanceId, recordId: newId(), body, validUntil, receipt });
    if (!record) throw invalid('invalid_activity_time', 'ActivityTime must be an RFC 3339 time');
    if (!(await this.profileExists(instanceId, input.CustomerId))) {
      throw notFound('profile_not_found', `profile ${input.CustomerId} does not exist`);
    }
    return this.commitActivity(record);
  }

  /** POST …/data/{datasetName}: an activity in its dataset's source format, tied by its identities. */
  async createDatasetActivity(instanceId: string, datasetName: string, body: JsonValue, o: RealtimeOptions): Promise<ActivityResult> {
    const catalog = await this.catalogOf(instanceId);
    const dataset = catalog.dataset(datasetName);
    if (!dataset) throw notFound('dataset_not_found', `dataset ${datasetName} does not exist`);
    if (catalog.schemaOf(dataset).class !== 'activity') {
      throw invalid('not_an_activity_dataset', `dataset ${datasetName} holds profile records; update profiles with PATCH …/data/Customer/{customerId}`);
    }
    const receipt = this.receipt(o);
    const validUntil = this.expiry(o.validUntil, receipt.receivedAt, DEFAULT_ACTIVITY_TTL_MS);
    const prepared = prepareRecord({ catalog, dataset, raw: body, recordId: newId(), receipt, validUntil });
    if (!prepared.ok) throw invalid(prepared.code, prepared.message, prepared.violations);
    let customerId: string | undefined;
    for (const id of prepared.record.identities) {
      customerId = await this.deps.reader.findByIdentity(instanceId, id.namespace, id.value);
      if (customerId) break;
    }
    if (!customerId) throw notFound('profile_not_found', 'no profile holds any identity of this activity; the real-time API does not create profiles');
    return this.commitActivity({ ...prepared.record, target: customerId });
  }

  private async commitActivity(r: PreparedRecord): Promise<ActivityResult> {
    const outcome = await this.commitOne(r);
    if (outcome.status === 'not_found') throw notFound('profile_not_found', `profile ${r.target!} does not exist`);
    if (outcome.status === 'conflict') {
      throw conflict('activity_conflict', `activity ${r.recordKey} already exists with a different body; activities are immutable`);
    }
    if (outcome.status === 'applied') return { created: true, activity: toTimelineItem(appliedActivity(r, outcome.customerId!)) };
    // A duplicate: what is stored.
    const stored = await this.deps.reader.activity(r.instanceId, r.recordKey);
    if (!stored) throw notFound('activity_not_found', `activity ${r.recordKey} has expired`);
    return { created: false, activity: toTimelineItem(stored) };
  }
}
