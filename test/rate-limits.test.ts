import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/domain/clock.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { profileByIdentity, setupPeople, type Setup } from './helpers/fixtures.js';

const clock = new ManualClock(Date.UTC(2026, 6, 1));
let ts: TestServer;
let ds: Setup;

beforeAll(async () => {
  ts = await startTestServer({ clock });
  ds = await setupPeople(ts.api);
});
afterAll(async () => ts.close());

const limits = (requestsPerSecond: number, messagesPerSecond: number, syncValidationPerMinute: number) =>
  ts.api('PATCH', '/api/instances/default/manage/settings', { body: { rateLimits: { requestsPerSecond, messagesPerSecond, syncValidationPerMinute } } });
const one = (crmId: string, query = '') => ts.api('POST', `/api/instances/default/collection/${ds.crm}${query}`, { body: { record: { crmId } } });

describe('rate limits', () => {
  it('defaults to 1,000 requests/s, 10,000 messages/s and 60 syncValidation requests/minute', async () => {
    const settings = await ts.api('GET', '/api/instances/default/manage/settings');
    expect(settings.body.rateLimits).toEqual({ requestsPerSecond: 1000, messagesPerSecond: 10000, syncValidationPerMinute: 60 });
  });

  it('answers 429 with Retry-After over the requests limit, does no work, and lets requests through again later', async () => {
    await limits(5, 1000, 60);
    clock.advance(10_000);
    for (let i = 0; i < 5; i++) expect((await one(`RL-${i}`)).status).toBe(200);
    const over = await one('RL-over');
    expect(over.status).toBe(429);
    expect(over.headers.get('retry-after')).toBe('1');
    expect(over.body.code).toBe('rate_limited');
    expect(over.body.details).toEqual({ limit: 'requestsPerSecond', value: 5, retryAfterSeconds: 1 });
    expect(String(over.body.message)).toContain('5 ingestion requests a second');
    expect((await profileByIdentity(ts.api, 'crmId:RL-over')).status).toBe(404);
    clock.advance(1000);
    expect((await one('RL-over')).status).toBe(200);
    // Reads are not limited.
    expect((await profileByIdentity(ts.api, 'crmId:RL-over')).status).toBe(200);
  });

  it('counts the messages of a batch', async () => {
    await limits(1000, 20, 60);
    clock.advance(10_000);
    const batch = (n: number, tag: string) =>
      ts.api('POST', '/api/instances/default/collection/batch', { body: { messages: Array.from({ length: n }, (_, i) => ({ datasetId: ds.crm, record: { crmId: `${tag}-${i}` } })) } });
    expect((await batch(15, 'MB')).status).toBe(207);
    const over = await batch(10, 'MO');
    expect(over.status).toBe(429);
    expect(over.body.details).toEqual({ limit: 'messagesPerSecond', value: 20, retryAfterSeconds: 1 });
    expect((await profileByIdentity(ts.api, 'crmId:MO-0')).status).toBe(404);
    clock.advance(250); // 5 tokens + 5 more = 10
    expect((await batch(10, 'MO')).status).toBe(207);
  });

  it('limits syncValidation requests per minute on their own', async () => {
    await limits(1000, 1000, 2);
    clock.advance(120_000);
    expect((await one('SV-1', '?syncValidation=true')).status).toBe(200);
    expect((await one('SV-2', '?syncValidation=true')).status).toBe(200);
    const over = await one('SV-3', '?syncValidation=true');
    expect(over.status).toBe(429);
    expect(over.headers.get('retry-after')).toBe('30');
    expect(over.body.details).toMatchObject({ limit: 'syncValidationPerMinute' });
    expect((await one('SV-3')).status).toBe(200); // the asynchronous path is not held back
  });

  it('applies to the real-time API too', async () => {
    await limits(2, 1000, 60);
    clock.advance(10_000);
    const id = String((await profileByIdentity(ts.api, 'crmId:RL-0')).body.customerId);
    expect((await ts.api('PATCH', `/api/instances/default/data/Customer/${id}`, { body: { loyalty: { tier: 'a' } } })).status).toBe(204);
    expect((await ts.api('PATCH', `/api/instances/default/data/Customer/${id}`, { body: { loyalty: { tier: 'b' } } })).status).toBe(204);
    const over = await ts.api('PATCH', `/api/instances/default/data/Customer/${id}`, { body: { loyalty: { tier: 'c' } } });
    expect(over.status).toBe(429);
    expect((await ts.api('GET', `/api/instances/default/profiles/${id}`)).body.attributes['loyalty']).toMatchObject({ tier: 'b' });
    await limits(1000, 10000, 60);
  });
});
