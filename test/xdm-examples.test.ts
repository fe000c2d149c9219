import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers/server.js';

const XDM = join(__dirname, '..', '..', 'shared', 'data', 'xdm-examples', 'components', 'classes');
const load = (name: string): Record<string, unknown> => JSON.parse(readFileSync(join(XDM, name), 'utf8')) as Record<string, unknown>;

/** The README's conversion to the ingestion (API) form: drop the `xdm:` prefixes, everywhere. */
function toApiForm(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toApiForm);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.startsWith('xdm:') ? k.slice(4) : k, toApiForm(v)]));
}

const envelope = (datasetId: string, entity: unknown) => ({
  header: { datasetId, schemaRef: { id: 'https://ns.adobe.com/tessera/schemas/xdm', contentType: 'application/vnd.adobe.xed-full+json;version=1' } },
  body: { xdmMeta: { schemaRef: { id: 'https://ns.adobe.com/tessera/schemas/xdm' } }, xdmEntity: entity },
});

let ts: TestServer;
let profileDataset = '';
let eventDataset = '';

beforeAll(async () => {
  ts = await startTestServer();
  const base = '/api/instances/default/manage';
  // Adobe's URI namespaces become aliases of Tessera namespaces.
  await ts.api('POST', `${base}/namespaces`, { body: { code: 'ecid', aliases: ['https://data.adobe.io/entities/namespace/4'] } });
  await ts.api('POST', `${base}/namespaces`, { body: { code: 'adobeNs10', aliases: ['https://data.adobe.io/entities/namespace/10'], priority: 20 } });
  await ts.api('POST', `${base}/namespaces`, { body: { code: 'adobeNs9', aliases: ['https://data.adobe.io/entities/namespace/9'], priority: 20 } });
  await ts.api('POST', `${base}/namespaces`, { body: { code: 'avid', aliases: ['AVID'], priority: 20 } });
  const profileSchema = await ts.api('POST', `${base}/schemas`, {
    body: {
      name: 'XDM Individual Profile',
      class: 'profile',
      jsonSchema: {
        type: 'object',
        properties: {
          person: { type: 'object', properties: { name: { type: 'object', properties: { firstName: { type: 'string' } } }, gender: { type: 'string' } } },
          workAddress: { type: 'object', properties: { 'schema:latitude': { type: 'number' } } },
          segments: { type: 'array' },
        },
      },
      fieldGroups: ['workAddress'],
    },
  });
  const eventSchema = await ts.api('POST', `${base}/schemas`, {
    body: { name: 'XDM ExperienceEvent', class: 'activity', idField: '@id', timestampField: 'timestamp', jsonSchema: { type: 'object', required: ['@id', 'timestamp'], properties: { timestamp: { type: 'string', format: 'date-time' } } } },
  });
  profileDataset = String((await ts.api('POST', `${base}/datasets`, { body: { name: 'xdm-profiles', schemaId: String(profileSchema.body.id) } })).body.id);
  eventDataset = String((await ts.api('POST', `${base}/datasets`, { body: { name: 'xdm-events', schemaId: String(eventSchema.body.id) } })).body.id);
});
afterAll(async () => ts.close());

describe('Adobe XDM examples', () => {
  it('ingests profile.example.1 and reads it back field for field', async () => {
    const doc = load('profile.example.1.json');
    const res = await ts.api('POST', `/api/instances/default/collection/${profileDataset}?syncValidation=true`, { body: envelope(profileDataset, toApiForm(doc)) });
    expect(res.status).toBe(200);
    const profile = await ts.api('GET', '/api/instances/default/profiles?identity=email:jane@doe.com');
    expect(profile.status).toBe(200);
    const expected = toApiForm(doc) as Record<string, unknown>;
    delete expected['identityMap'];
    expect(profile.body.attributes).toEqual(expected);
    const ids = (profile.body.identities as unknown as Array<{ namespace: string; value: string }>).map((i) => `${i.namespace}:${i.value}`).sort();
    expect(ids).toEqual(['ecid:92312748749128', 'email:jane@doe.com']);
    // The field group came whole from its source, and every field says where it came from.
    expect(profile.body.fieldSources['workAddress']).toMatchObject({ datasetId: profileDataset, datasetName: 'xdm-profiles' });
    expect(profile.body.fieldSources['person.name.firstName']).toMatchObject({ datasetId: profileDataset });
  });

  it('accepts the canonical xdm:-prefixed form as well', async () => {
    const doc = load('profile.example.1.json');
    const res = await ts.api('POST', `/api/instances/default/collection/${profileDataset}`, { body: envelope(profileDataset, doc) });
    expect(res.status).toBe(200);
    const fragments = await ts.api('GET', '/api/instances/default/profiles?identity=ecid:92312748749128');
    expect(fragments.body.attributes['person']).toEqual({ name: { firstName: 'Jane', middleName: 'F', lastName: 'Doe', fullName: 'Jane F. Doe' }, birthDayAndMonth: '01-03', gender: 'female' });
  });

  it('ingests the experienceevent examples onto the right timelines', async () => {
    const names = [1, 2, 3, 4, 5, 6, 7].map((n) => `experienceevent.example.${n}.json`);
    const messages = names.map((n) => envelope(eventDataset, toApiForm(load(n))));
    const res = await ts.api('POST', '/api/instances/default/collection/batch', { body: { messages } });
    expect(res.status).toBe(207);
    expect((res.body.results as unknown as Array<{ status: number }>).map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200, 200]);

    const jane = await ts.api('GET', '/api/instances/default/profiles?identity=email:jane@doe.com');
    const timeline = await ts.api('GET', `/api/instances/default/profiles/${String(jane.body.customerId)}/timeline?order=asc`);
    const items = timeline.body.items as unknown as Array<{ activityId: string; record: unknown; timestamp: string }>;
    // Examples 1-4 carry Jane's ECID.
    expect(items.map((i) => i.activityId).sort()).toEqual(
      ['https://data.adobe.io/experienceid-123456', 'https://data.adobe.io/experienceid-2345678', 'https://data.adobe.io/experienceid-23456782', 'https://data.adobe.io/experienceid-123457'].sort(),
    );
    for (const item of items) {
      const n = names.find((name) => (load(name) as Record<string, unknown>)['@id'] === item.activityId)!;
      expect(item.record).toEqual(toApiForm(load(n)));
      expect(item.timestamp).toBe('2017-09-26T15:52:25.000Z');
    }
    // Events link their identities: Jane's profile now holds the other namespaces too.
    const janeIds = (jane.body.identities as unknown as Array<{ namespace: string; value: string }>).map((i) => `${i.namespace}:${i.value}`).sort();
    expect(janeIds).toEqual(['adobeNs10:2394509340-30453470347', 'adobeNs9:1233ce17-20e0-4a2c-8198-2a77fd60cf4d', 'avid:2394509340-30453470347', 'ecid:92312748749128', 'email:jane@doe.com']);

    const commerce = items.find((i) => i.activityId.endsWith('123456'))!.record as { commerce: { order: { priceTotal: number; payments: unknown[] } } };
    expect(commerce.commerce.order.priceTotal).toBe(159);
    expect(commerce.commerce.order.payments).toHaveLength(2);

    // Examples 6 and 7 share one @id with different bodies: the second is kept as a failed record.
    const failed = await ts.api('GET', `/api/instances/default/manage/datasets/${eventDataset}/failed`);
    const f = failed.body.failed as unknown as Array<{ errors: Array<{ keyword: string }>; record: { eventType?: string } }>;
    expect(f).toHaveLength(1);
    expect(f[0]!.errors[0]!.keyword).toBe('activity_conflict');
    expect(f[0]!.record.eventType).toBe('pushTracking.customAction');
  });

  it('answers Adobe-style /access/entities lookups', async () => {
    const profile = await ts.api('GET', '/api/instances/default/access/entities?schema.name=_xdm.context.profile&entityId=jane@doe.com&entityIdNS=email');
    expect(profile.status).toBe(200);
    const [entry] = Object.values(profile.body);
    expect(entry!['entity']!['person']!['gender']).toBe('female');
    const events = await ts.api(
      'GET',
      '/api/instances/default/access/entities?schema.name=_xdm.context.experienceevent&relatedSchema.name=_xdm.context.profile&relatedEntityId=92312748749128&relatedEntityIdNS=ECID&limit=2',
    );
    expect(events.status).toBe(200);
    expect(events.body.children).toHaveLength(2);
    expect(events.body._page!['count']).toBe(2);
  });
});
