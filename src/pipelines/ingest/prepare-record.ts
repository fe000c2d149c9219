import { extractIdentities, identityKey } from '../../domain/identity/extract.js';
import { exceedsDepth, getPath, isObject, type JsonValue } from '../../domain/json-path.js';
import type { DatasetDef } from '../../domain/schema/model.js';
import { holdsNul, nulMessage } from '../../domain/nul.js';
import { stripXdmPrefixes } from '../../domain/xdm.js';
import type { InstanceCatalog } from './catalog.js';
import type { PreparedRecord, Receipt } from '../records.js';

export const MAX_RECORD_BYTES = 100 * 1024;
export const MAX_RECORD_DEPTH = 32;

export interface Violation {
  path: string;
  keyword: string;
  message: string;
}

export type PrepareResult =
  | { ok: true; record: PreparedRecord }
  | { ok: false; code: string; message: string; violations: Violation[] };

const fail = (code: string, message: string, violations: Violation[] = []): PrepareResult => ({ ok: false, code, message, violations });

/**
 * A NUL character (U+0000) in a value that is stored in a column of its own (an identity value, an
 * activity's id or type): PostgreSQL's text cannot hold one, so the record is refused on every
 * backend alike (inside the record's JSON it stays, escaped).
 */
function nulCharacters(values: ReadonlyArray<{ what: string; path: string; value: string | null }>): PrepareResult | undefined {
  const found = values.filter((v) => holdsNul(v.value));
  if (found.length === 0) return undefined;
  return fail(
    'nul_character',
    `${found.map((v) => v.what).join(' and ')} holds a NUL character (U+0000), which identities, activity ids and types cannot hold; remove it`,
    found.map((v) => ({ path: v.path, keyword: 'nul_character', message: nulMessage(v.what) })),
  );
}

/** Parses a timestamp given as RFC 3339 text or epoch milliseconds. */
export function parseTimestamp(value: JsonValue | undefined): number | null {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.trim() !== '') {
    const t = Date.parse(value);
    return Number.isNaN(t) ? null : t;
  }
  return null;
}

export interface PrepareInput {
  catalog: InstanceCatalog;
  dataset: DatasetDef;
  raw: JsonValue;
  recordId: string;
  receipt: Receipt;
  /** Byte size of the record if known cheaply; computed otherwise. */
  sizeHint?: number;
  validUntil?: number | null;
}

/**
 * The validate step: size and depth limits, JSON Schema validation, identity extraction, and the
 * record's key and time. Pure apart from the catalog lookups; never throws for bad input.
 */
export function prepareRecord(input: PrepareInput): PrepareResult {
  const { catalog, dataset, raw } = input;
  // Serialized once: the size is measured on the text that is kept.
  let rawJson = input.sizeHint === undefined ? JSON.stringify(raw) : undefined;
  const size = input.sizeHint ?? Buffer.byteLength(rawJson!);
  if (size > MAX_RECORD_BYTES) {
    return fail('record_too_large', `record is ${size} bytes; the limit is ${MAX_RECORD_BYTES} bytes`);
  }
  if (!isObject(raw)) return fail('record_not_object', 'a record must be a JSON object');
  if (exceedsDepth(raw, MAX_RECORD_DEPTH)) {
    return fail('record_too_deep', `record nests deeper than ${MAX_RECORD_DEPTH} levels`);
  }
  const record = stripXdmPrefixes(raw);
  rawJson ??= JSON.stringify(raw);
  const recordJson = record === raw ? rawJson : JSON.stringify(record);
  if (!isObject(record)) return fail('record_not_object', 'a record must be a JSON object');
  const schema = catalog.schemaOf(dataset);
  const validate = catalog.validator(schema);
  if (!validate(record)) {
    const violations = (validate.errors ?? []).map((e): Violation => {
      const params = e.params as Record<string, unknown>;
      let path = e.instancePath;
      if (e.keyword === 'required' && typeof params['missingProperty'] === 'string') path += `/${params['missingProperty']}`;
      if (e.keyword === 'additionalProperties' && typeof params['additionalProperty'] === 'string') path += `/${params['additionalProperty']}`;
      return { path: path === '' ? '/' : path, keyword: e.keyword, message: e.message ?? 'is invalid' };
    });
    return fail('schema_violation', `record does not match schema ${schema.name}`, violations);
  }

  const { identities, problems } = extractIdentities(record, schema, catalog.namespaces, catalog.blocked, {
    defaultPhoneRegion: catalog.settings.defaultPhoneRegion,
  });
  if (problems.length > 0) {
    return fail('unknown_namespace', problems[0]!.message, problems.map((p) => ({ path: p.path, keyword: 'identity', message: p.message })));
  }

  if (identities.some((i) => holdsNul(i.value))) return nulCharacters(identities.map((i) => ({ what: `the ${i.namespace} identity`, path: '/', value: i.value })))!;

  const { receipt } = input;
  // One literal shape for every kind (a spread of a shared base object took a fifth of a batch row's preparation).
  const made = (kind: 'profile' | 'activity', recordKey: string, timestamp: number, activityType: string | null, validUntil: number | null): PrepareResult => ({
    ok: true,
    record: { kind, instanceId: catalog.instance.id, datasetId: dataset.id, recordId: input.recordId, rawJson, recordJson, identities, recordKey, timestamp, activityType, validUntil, receipt },
  });
  if (schema.class === 'activity') {
    const id = getPath(record, schema.idField);
    const ts = parseTimestamp(getPath(record, schema.timestampField));
    const violations: Violation[] = [];
    if (typeof id !== 'string' && typeof id !== 'number') {
      violations.push({ path: `/${schema.idField.replaceAll('.', '/')}`, keyword: 'required', message: 'an activity needs an id' });
    }
    if (ts === null) {
      violations.push({ path: `/${schema.timestampField.replaceAll('.', '/')}`, keyword: 'required', message: 'an activity needs a timestamp (RFC 3339 or epoch ms)' });
    }
    if (violations.length > 0) return fail('schema_violation', 'activity record lacks its id or timestamp', violations);
    if (identities.length === 0) {
      return fail('no_identity', 'the activity carries no usable identity (identity fields or identityMap), so it cannot be tied to a profile');
    }
    const typeField = ['eventType', 'ActivityType', 'type'].find((f) => (getPath(record, f) ?? null) !== null);
    const type = typeField === undefined ? undefined : getPath(record, typeField);
    const activityType = typeof type === 'string' ? type : null;
    if (holdsNul(String(id)) || holdsNul(activityType)) {
      return nulCharacters([
        { what: 'the activity id', path: `/${schema.idField.replaceAll('.', '/')}`, value: String(id) },
        { what: 'the activity type', path: `/${typeField ?? 'eventType'}`, value: activityType },
      ])!;
    }
    return made('activity', String(id), ts!, activityType, input.validUntil ?? null);
  }

  if (identities.length === 0) {
    return fail('no_identity', 'the record carries no usable identity (identity fields or identityMap); blocked values such as "null" or "anonymous" do not count');
  }
  const primary = identities[0]!;
  const ts = parseTimestamp(getPath(record, schema.timestampField)) ?? receipt.receivedAt;
  return made('profile', identityKey(primary), ts, null, null);
}
