import type { Clock } from '../domain/clock.js';
import { TesseraError, invalid, notFound } from '../domain/errors.js';
import { newId, newSecret } from '../domain/ids.js';
import { isObject, type JsonObject, type JsonValue } from '../domain/json-path.js';
import type { Catalog } from '../pipelines/ingest/catalog.js';
import type { IngestService } from '../pipelines/ingest/ingest-service.js';
import { convertSegment, SEGMENT_TYPES, str, type SegmentType } from '../pipelines/ingest/segment-message.js';
import type { WriteKey, WriteKeyStore } from '../ports/write-key-store.js';
import type { CatalogAdmin } from './catalog-admin.js';
import { hashKey } from './keys.js';

export const MAX_MESSAGE_BYTES = 32 * 1024;
export const MAX_BATCH_BYTES = 500 * 1024;

const TRACKING_PROFILE_SCHEMA = 'tracking-profile';
const TRACKING_EVENT_SCHEMA = 'tracking-event';

/**
 * The Segment/RudderStack-compatible tracking API: write keys, and identify/track/page/screen/
 * group/alias calls turned into profile records and activities of the write key's datasets.
 */
export class TrackingService {
  constructor(private readonly deps: { store: WriteKeyStore; admin: CatalogAdmin; catalog: Catalog; ingest: IngestService; clock: Clock }) {}

  /** A write key with its two datasets (`<name>-identify`, `<name>-events`), made on first use. */
  async createWriteKey(instanceId: string, name: string): Promise<{ key: WriteKey; writeKey: string }> {
    const admin = this.deps.admin;
    for (const code of ['userId', 'anonymousId']) {
      if (!(await admin.listNamespaces(instanceId)).some((n) => n.code === code)) await admin.upsertNamespace(instanceId, { code, priority: code === 'userId' ? 2 : 7 });
    }
    const schemas = await admin.listSchemas(instanceId);
    const profileSchema =
      schemas.find((s) => s.name === TRACKING_PROFILE_SCHEMA) ??
      (await admin.createSchema(instanceId, { name: TRACKING_PROFILE_SCHEMA, class: 'profile', jsonSchema: { type: 'object', properties: { traits: { type: 'object' } } } }));
    const eventSchema =
      schemas.find((s) => s.name === TRACKING_EVENT_SCHEMA) ??
      (await admin.createSchema(instanceId, {
        name: TRACKING_EVENT_SCHEMA,
        class: 'activity',
        idField: 'messageId',
        timestampField: 'timestamp',
        jsonSchema: { type: 'object', required: ['messageId', 'timestamp'], properties: { messageId: { type: 'string' }, type: { type: 'string' }, event: { type: 'string' }, properties: { type: 'object' } } },
      }));
    const datasets = await admin.listDatasets(instanceId);
    const ensure = async (dsName: string, schemaId: string) => datasets.find((d) => d.name === dsName) ?? (await admin.createDataset(instanceId, { name: dsName, schemaId }));
    const profiles = await ensure(`${name}-identify`, profileSchema.id);
    const events = await ensure(`${name}-events`, eventSchema.id);
    const writeKey = newSecret('twk');
    const key: WriteKey = { id: newId(), instanceId, name, profileDatasetId: profiles.id, eventDatasetId: events.id, createdAt: this.deps.clock.now(), revokedAt: null };
    await this.deps.store.create(hashKey(writeKey), key);
    return { key, writeKey };
  }

  listWriteKeys(instanceId: string): Promise<WriteKey[]> {
    return this.deps.store.list(instanceId);
  }

  async revokeWriteKey(instanceId: string, id: string): Promise<void> {
    if (!(await this.deps.store.revoke(instanceId, id, this.deps.clock.now()))) throw notFound('write_key_not_found', `write key ${id} does not exist or is revoked`);
  }

  async authenticate(writeKey: string | undefined): Promise<WriteKey> {
    if (!writeKey) throw new TesseraError('unauthenticated', 'missing_write_key', 'send the write key as the Basic auth user name or as "writeKey" in the body');
    const key = await this.deps.store.byHash(hashKey(writeKey));
    if (!key || key.revokedAt !== null) throw new TesseraError('unauthenticated', 'invalid_write_key', 'the write key is unknown or revoked');
    return key;
  }

  /** One call (`type` given) or a batch (`type` undefined: `{batch: [...]}`); answers once durable. */
  async track(key: WriteKey, type: SegmentType | undefined, body: JsonObject, bodyBytes: number, requestId: string): Promise<void> {
    const receivedAt = this.deps.clock.now();
    let items: Array<{ type: SegmentType; msg: JsonObject }>;
    if (type === undefined) {
      if (bodyBytes > MAX_BATCH_BYTES) throw invalid('batch_too_large', `a batch is limited to ${MAX_BATCH_BYTES / 1024} KB; send smaller batches`);
      const batch = body['batch'];
      if (!Array.isArray(batch)) throw invalid('invalid_batch', 'a batch body is {"batch": [ ...calls ]}');
      const shared: JsonObject = {};
      for (const k of ['context', 'integrations']) if (isObject(body[k])) shared[k] = body[k]!;
      items = batch.map((m: JsonValue, i: number) => {
        if (!isObject(m)) throw invalid('invalid_batch', `batch item ${i} is not an object`);
        const t = m['type'];
        if (typeof t !== 'string' || !SEGMENT_TYPES.includes(t as SegmentType)) throw invalid('invalid_type', `batch item ${i} has type ${String(t)}; use one of ${SEGMENT_TYPES.join(', ')}`);
        const merged: JsonObject = { ...m };
        for (const [k, v] of Object.entries(shared)) merged[k] = isObject(m[k]) && isObject(v) ? { ...v, ...(m[k] as JsonObject) } : (m[k] ?? v);
        if (Buffer.byteLength(JSON.stringify(merged)) > MAX_MESSAGE_BYTES) throw invalid('message_too_large', `batch item ${i} is over ${MAX_MESSAGE_BYTES / 1024} KB`);
        return { type: t as SegmentType, msg: merged };
      });
    } else {
      if (bodyBytes > MAX_MESSAGE_BYTES) throw invalid('message_too_large', `a message is limited to ${MAX_MESSAGE_BYTES / 1024} KB`);
      items = [{ type, msg: body }];
    }
    for (const [i, it] of items.entries()) {
      if (it.type !== 'alias' && str(it.msg['userId']) === undefined && str(it.msg['anonymousId']) === undefined) {
        throw invalid('identity_required', `call ${i} (${it.type}) needs a userId or an anonymousId`);
      }
    }
    const catalog = await this.deps.catalog.get(key.instanceId);
    if (!catalog) throw notFound('instance_not_found', 'the write key\'s instance no longer exists');
    const messages = items.map(({ type: t, msg }) => {
      const c = convertSegment(t, msg, receivedAt);
      return { datasetId: c.kind === 'profile' ? key.profileDatasetId : key.eventDatasetId, record: c.record };
    });
    await this.deps.ingest.ingest(catalog, messages as unknown as JsonValue[], {
      receipt: { requestId, receivedAt, path: 'tracking', caller: key.name },
      syncValidation: false,
      smallBody: true,
    });
  }
}
