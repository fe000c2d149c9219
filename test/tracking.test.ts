import { Analytics } from '@segment/analytics-node';
import RudderAnalytics from '@rudderstack/rudder-sdk-node';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { usePeopleServer } from './helpers/fixtures.js';

const ctx = usePeopleServer();

const newWriteKey = async (name: string): Promise<string> => {
  const res = await ctx.ts.api('POST', '/api/instances/default/manage/write-keys', { body: { name } });
  expect(res.status).toBe(201);
  return String(res.body.writeKey);
};
const timeline = async (identity: string) => {
  await ctx.ts.settled();
  const p = await ctx.ts.api('GET', `/api/instances/default/profiles?identity=${encodeURIComponent(identity)}`);
  const t = await ctx.ts.api('GET', `/api/instances/default/profiles/${String(p.body.customerId)}/timeline?order=asc`);
  return { profile: p.body, items: t.body.items as unknown as Array<{ activityId: string; type: string; record: { event?: string; type: string; properties?: unknown } }> };
};

describe('Segment-compatible tracking API', () => {
  it('takes identify, track and alias from the real Segment SDK, by host only', async () => {
    const writeKey = await newWriteKey('web');
    const analytics = new Analytics({ writeKey, host: ctx.ts.url, flushAt: 3, flushInterval: 100 });
    analytics.identify({ anonymousId: 'anon-seg-1', traits: { email: 'Seg.User@Example.com', plan: 'pro' } });
    analytics.track({ anonymousId: 'anon-seg-1', event: 'Order Completed', properties: { total: 42 } });
    analytics.alias({ userId: 'seg-user-1', previousId: 'anon-seg-1' });
    analytics.track({ userId: 'seg-user-1', event: 'Signed In' });
    await analytics.closeAndFlush();
    const { profile, items } = await timeline('userId:seg-user-1');
    const ids = (profile['identities'] as unknown as Array<{ namespace: string; value: string }>).map((i) => `${i.namespace}:${i.value}`).sort();
    expect(ids).toEqual(expect.arrayContaining(['anonymousId:anon-seg-1', 'email:seg.user@example.com', 'userId:seg-user-1']));
    expect(profile['attributes']).toMatchObject({ traits: { email: 'Seg.User@Example.com', plan: 'pro' } });
    // Both events, whatever order the clock-skew correction of two SDK flushes puts them in.
    expect(items.map((i) => i.type).sort()).toEqual(['Order Completed', 'Signed In']);
    expect(items.find((i) => i.type === 'Order Completed')!.record.properties).toEqual({ total: 42 });
  });

  it('takes a gzip\'d batch from the real RudderStack SDK; a retried batch with the same messageIds adds nothing', async () => {
    const writeKey = await newWriteKey('server');
    const client = new RudderAnalytics(writeKey, { dataPlaneUrl: ctx.ts.url, flushAt: 10, gzip: true, logLevel: 'error' });
    client.identify({ userId: 'rs-user-1', traits: { email: 'rs1@example.com', phone: '+1 415 555 0123' } });
    client.track({ userId: 'rs-user-1', event: 'Product Viewed', properties: { sku: 'A-1' } });
    client.page({ userId: 'rs-user-1', name: 'Home' });
    client.alias({ userId: 'rs-user-1', previousId: 'rs-anon-9' });
    await client.flush();
    const { profile, items } = await timeline('phone:+14155550123');
    expect(profile['customerId']).toBeDefined();
    expect(items.map((i) => i.type).sort()).toEqual(['Product Viewed', 'page']);
    expect((await ctx.ts.api('GET', '/api/instances/default/profiles?identity=anonymousId:rs-anon-9')).body.customerId).toBe(profile['customerId']);

    // The same batch again, as an SDK retry would send it: nothing new lands.
    const batch = {
      batch: [
        { type: 'track', messageId: 'fixed-1', userId: 'rs-user-2', event: 'Clicked', timestamp: '2026-01-01T00:00:00Z', sentAt: '2026-01-01T00:00:01Z' },
        { type: 'identify', messageId: 'fixed-2', userId: 'rs-user-2', traits: { name: 'Two' } },
      ],
      context: { library: { name: 'test' } },
    };
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${ctx.ts.url}/v1/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-encoding': 'gzip', authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}` },
        body: gzipSync(JSON.stringify(batch)),
      });
      expect(res.status).toBe(200);
    }
    const two = await timeline('userId:rs-user-2');
    expect(two.items.map((i) => i.activityId)).toEqual(['fixed-1']);
    expect((two.items[0]!.record as unknown as { context: unknown }).context).toEqual({ library: { name: 'test' } });
    const failed = await ctx.ts.api('GET', `/api/instances/default/manage/datasets/server-events/failed`);
    expect(failed.body.failed).toEqual([]);
  });

  it('corrects the timestamp with sentAt, takes the short forms and a write key in the body, and refuses bad calls', async () => {
    const writeKey = await newWriteKey('mobile');
    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${ctx.ts.url}${path}`, { method: 'POST', headers: { 'content-type': 'text/plain', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
    // The client's clock is 1 hour behind: sent at 11:00:10 by its clock, the event happened 10 s earlier.
    const res = await post('/v1/t', { writeKey, type: 'track', messageId: 'skew-1', userId: 'm-1', event: 'Tapped', timestamp: '2026-01-01T11:00:00Z', sentAt: '2026-01-01T11:00:10Z' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ success: true });
    const { items } = await timeline('userId:m-1');
    const stamped = Date.parse((items[0] as unknown as { timestamp: string }).timestamp);
    expect(Math.abs(Date.now() - 10_000 - stamped)).toBeLessThan(60_000);
    expect((await post('/v1/identify', { userId: 'x' })).status).toBe(401);
    expect((await post('/v1/identify', { userId: 'x' }, { authorization: 'Basic ' + Buffer.from('nope:').toString('base64') })).status).toBe(401);
    const noId = await post('/v1/track', { writeKey, event: 'x' });
    expect(noId.status).toBe(400);
    expect(((await noId.json()) as { code: string }).code).toBe('identity_required');
    const big = await post('/v1/track', { writeKey, userId: 'x', event: 'big', properties: { pad: 'a'.repeat(40_000) } });
    expect(big.status).toBe(400);
    expect(((await big.json()) as { code: string }).code).toBe('message_too_large');
    const bigBatch = await post('/v1/batch', { writeKey, batch: Array.from({ length: 30 }, (_, i) => ({ type: 'track', userId: 'x', event: `e${i}`, properties: { pad: 'a'.repeat(20_000) } })) });
    expect(bigBatch.status).toBe(400);
    expect(((await bigBatch.json()) as { code: string }).code).toBe('batch_too_large');
    expect((await post('/v1/track', '{not json', { authorization: 'Basic ' + Buffer.from(`${writeKey}:`).toString('base64') })).status).toBe(400);
    const settings = await fetch(`${ctx.ts.url}/v1/projects/${writeKey}/settings`);
    expect(settings.status).toBe(200);
  });
});
