import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeApi, startTestServer, type Api, type ApiResponse, type TestServer } from './helpers/server.js';
import { setupPeople, type Setup } from './helpers/fixtures.js';

let ts: TestServer;
let ds: Setup;
const keys: Record<string, string | null> = {};
let customerId = '';

beforeAll(async () => {
  ts = await startTestServer();
  ds = await setupPeople(ts.api);
  for (const role of ['admin', 'contributor', 'viewer'] as const) {
    const res = await ts.api('POST', '/api/instances/default/manage/keys', { body: { name: role, role } });
    expect(res.status).toBe(201);
    keys[role] = String(res.body.key);
  }
  // A second instance with its own admin key.
  const other = await ts.server.tessera.instances.create('other', 'Other');
  keys['otherInstance'] = other.admin.secret;
  const revoked = await ts.api('POST', '/api/instances/default/manage/keys', { body: { name: 'gone', role: 'admin' } });
  await ts.api('DELETE', `/api/instances/default/manage/keys/${String(revoked.body.id)}`);
  keys['revoked'] = String(revoked.body.key);
  keys['none'] = null;
  await ts.api('POST', `/api/instances/default/collection/${ds.crm}`, { body: { record: { crmId: 'AUTH-1' } } });
  customerId = String((await ts.api('GET', '/api/instances/default/profiles?identity=crmId:AUTH-1')).body.customerId);
});
afterAll(async () => ts.close());

type Need = 'viewer' | 'contributor' | 'admin';
const routes = (): Array<{ name: string; need: Need; call: (api: Api) => Promise<ApiResponse> }> => [
  { name: 'list keys', need: 'admin', call: (api) => api('GET', '/api/instances/default/manage/keys') },
  { name: 'create key', need: 'admin', call: (api) => api('POST', '/api/instances/default/manage/keys', { body: { name: 'x', role: 'viewer' } }) },
  { name: 'update settings', need: 'admin', call: (api) => api('PATCH', '/api/instances/default/manage/settings', { body: { mergePolicy: 'timestampOrdered' } }) },
  { name: 'read settings', need: 'viewer', call: (api) => api('GET', '/api/instances/default/manage/settings') },
  { name: 'list namespaces', need: 'viewer', call: (api) => api('GET', '/api/instances/default/manage/namespaces') },
  { name: 'create namespace', need: 'contributor', call: (api) => api('POST', '/api/instances/default/manage/namespaces', { body: { code: 'loyaltyId' } }) },
  { name: 'list schemas', need: 'viewer', call: (api) => api('GET', '/api/instances/default/manage/schemas') },
  { name: 'create schema', need: 'contributor', call: (api) => api('POST', '/api/instances/default/manage/schemas', { body: { name: `s-${Math.random()}`, class: 'profile', jsonSchema: { type: 'object' } } }) },
  { name: 'list datasets', need: 'viewer', call: (api) => api('GET', '/api/instances/default/manage/datasets') },
  { name: 'create dataset', need: 'contributor', call: (api) => api('POST', '/api/instances/default/manage/datasets', { body: { name: `d${Date.now()}${Math.floor(Math.random() * 1e6)}`, schemaId: ds.schemaId } }) },
  { name: 'failed records', need: 'viewer', call: (api) => api('GET', `/api/instances/default/manage/datasets/${ds.crm}/failed`) },
  { name: 'identity warnings', need: 'viewer', call: (api) => api('GET', '/api/instances/default/manage/identity-warnings') },
  { name: 'ingest one', need: 'contributor', call: (api) => api('POST', `/api/instances/default/collection/${ds.crm}`, { body: { record: { crmId: 'AUTH-2' } } }) },
  { name: 'ingest batch', need: 'contributor', call: (api) => api('POST', '/api/instances/default/collection/batch', { body: { messages: [{ datasetId: ds.crm, record: { crmId: 'AUTH-3' } }] } }) },
  { name: 'profile', need: 'viewer', call: (api) => api('GET', `/api/instances/default/profiles/${customerId}`) },
  { name: 'profile by identity', need: 'viewer', call: (api) => api('GET', '/api/instances/default/profiles?identity=crmId:AUTH-1') },
  { name: 'timeline', need: 'viewer', call: (api) => api('GET', `/api/instances/default/profiles/${customerId}/timeline`) },
  { name: 'access entities', need: 'viewer', call: (api) => api('GET', '/api/instances/default/access/entities?schema.name=_xdm.context.profile&entityId=AUTH-1&entityIdNS=crmId') },
];

const RANK: Record<Need, number> = { viewer: 0, contributor: 1, admin: 2 };

describe('role × route × instance', () => {
  for (const route of routes()) {
    it(`${route.name} needs ${route.need}`, async () => {
      for (const who of ['admin', 'contributor', 'viewer', 'otherInstance', 'revoked', 'none']) {
        const api = makeApi(ts.url, keys[who] ?? '');
        const res = await route.call(who === 'none' ? (m, p, o) => api(m, p, { ...o, key: null }) : api);
        const label = `${route.name} as ${who}: ${res.status} ${JSON.stringify(res.body)}`;
        if (who === 'none') {
          expect(res.status, label).toBe(401);
          expect(res.body.code, label).toBe('missing_api_key');
        } else if (who === 'revoked') {
          expect(res.status, label).toBe(401);
          expect(res.body.code, label).toBe('invalid_api_key');
        } else if (who === 'otherInstance') {
          expect(res.status, label).toBe(404);
          expect(res.body.code, label).toBe('instance_not_found');
        } else if (RANK[who as Need] >= RANK[route.need]) {
          expect(res.status, label).toBeLessThan(300);
        } else {
          expect(res.status, label).toBe(403);
          expect(res.body.code, label).toBe('insufficient_role');
        }
      }
    });
  }

  it('accepts Ocp-Apim-Subscription-Key as well as Bearer', async () => {
    const res = await ts.api('GET', '/api/instances/default/manage/namespaces', { key: null, headers: { 'Ocp-Apim-Subscription-Key': keys['viewer']! } });
    expect(res.status).toBe(200);
  });

  it('asks for an instance that does not exist: 404 like another instance', async () => {
    const res = await ts.api('GET', '/api/instances/nope/manage/namespaces');
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('instance_not_found');
  });

  it('rotates a key: the old secret keeps working as secondary until expired, then stops', async () => {
    const created = await ts.api('POST', '/api/instances/default/manage/keys', { body: { name: 'rot', role: 'viewer' } });
    const oldSecret = String(created.body.key);
    const rotated = await ts.api('POST', `/api/instances/default/manage/keys/${String(created.body.id)}/rotate`);
    expect(rotated.status).toBe(200);
    expect(rotated.body.secondaryActive).toBe(true);
    const newSecret = String(rotated.body.key);
    expect(newSecret).not.toBe(oldSecret);
    expect((await makeApi(ts.url, oldSecret)('GET', '/api/instances/default/manage/settings')).status).toBe(200);
    expect((await makeApi(ts.url, newSecret)('GET', '/api/instances/default/manage/settings')).status).toBe(200);
    await ts.api('POST', `/api/instances/default/manage/keys/${String(created.body.id)}/expire-secondary`);
    expect((await makeApi(ts.url, oldSecret)('GET', '/api/instances/default/manage/settings')).status).toBe(401);
    expect((await makeApi(ts.url, newSecret)('GET', '/api/instances/default/manage/settings')).status).toBe(200);
    const listed = await ts.api('GET', '/api/instances/default/manage/keys');
    expect(JSON.stringify(listed.body)).not.toContain(newSecret);
  });

  it('keeps instances apart: the same identity in two instances is two profiles', async () => {
    const other = makeApi(ts.url, keys['otherInstance']!);
    const otherDs = await setupPeople(other, 'other');
    await other('POST', `/api/instances/other/collection/${otherDs.crm}`, { body: { record: { crmId: 'AUTH-1', person: { gender: 'x' } } } });
    const mine = await ts.api('GET', '/api/instances/default/profiles?identity=crmId:AUTH-1');
    const theirs = await other('GET', '/api/instances/other/profiles?identity=crmId:AUTH-1');
    expect(mine.body.customerId).not.toBe(theirs.body.customerId);
    expect(mine.body.attributes).toEqual({ crmId: 'AUTH-1' });
    // A dataset id of another instance does not exist here.
    const cross = await ts.api('POST', `/api/instances/default/collection/${otherDs.crm}`, { body: { record: { crmId: 'X' } } });
    expect(cross.status).toBe(404);
    expect(cross.body.code).toBe('dataset_not_found');
    expect((await ts.api('GET', `/api/instances/default/profiles/${String(theirs.body.customerId)}`)).status).toBe(404);
  });
});
