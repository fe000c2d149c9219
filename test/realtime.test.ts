import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../src/domain/clock.js';
import { ingestBatch, profileByIdentity, usePeopleServer } from './helpers/fixtures.js';

const T0 = Date.UTC(2026, 5, 1, 12, 0, 0);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const clock = new ManualClock(T0);
const ctx = usePeopleServer(clock);

const iso = (ms: number): string => new Date(ms).toISOString();
const newPerson = async (crmId: string, tier = 'silver'): Promise<string> => {
  const res = await ingestBatch(ctx.ts.api, [{ datasetId: ctx.ds.crm, record: { crmId, loyalty: { tier, points: 10 } } }]);
  expect(res.status).toBe(207);
  return String((await profileByIdentity(ctx.ts.api, `crmId:${crmId}`)).body.customerId);
};
const patch = (id: string, body: unknown, query = '') => ctx.ts.api('PATCH', `/api/instances/default/data/Customer/${id}${query}`, { body });
const profile = (id: string) => ctx.ts.api('GET', `/api/instances/default/profiles/${id}`);
/** Every line of the lake's NDJSON segments. */
const lakeText = (): string => {
  const dir = join(ctx.ts.dataDir, 'lake');
  return existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.ndjson')).map((f) => readFileSync(join(dir, f), 'utf8')).join('') : '';
};

describe('real-time profile updates', () => {
  it('an override shows until 1 ms before it expires, and at expiry the source value is back', async () => {
    clock.set(T0);
    const id = await newPerson('RT-1');
    const res = await patch(id, { loyalty: { tier: 'platinum' } }, `?validUntil=${iso(T0 + HOUR)}&caller=crm-app`);
    expect(res.status).toBe(204);
    const p = await profile(id);
    expect(p.body.attributes['loyalty']).toEqual({ tier: 'platinum', points: 10 });
    expect(p.body.fieldSources['loyalty.tier']).toEqual({ source: 'realtime', lastUpdated: iso(T0), validUntil: iso(T0 + HOUR), caller: 'crm-app' });
    expect(p.body.fieldSources['loyalty.points']).toMatchObject({ source: 'dataset', datasetName: 'crm' });
    clock.set(T0 + HOUR - 1);
    expect((await profile(id)).body.attributes['loyalty']!['tier']).toBe('platinum');
    clock.set(T0 + HOUR);
    const after = await profile(id);
    expect(after.body.attributes['loyalty']!['tier']).toBe('silver');
    expect(after.body.fieldSources['loyalty.tier']).toMatchObject({ source: 'dataset' });
  });

  it('defaults validUntil to now + 4 hours', async () => {
    clock.set(T0);
    const id = await newPerson('RT-2');
    expect((await patch(id, { loyalty: { tier: 'gold' } })).status).toBe(204);
    expect((await profile(id)).body.fieldSources['loyalty.tier']).toMatchObject({ validUntil: iso(T0 + 4 * HOUR) });
  });

  it('refuses validUntil in the past or more than 30 days ahead, and accepts exactly 30 days', async () => {
    clock.set(T0);
    const id = await newPerson('RT-3');
    const past = await patch(id, { loyalty: { tier: 'gold' } }, `?validUntil=${iso(T0 - 1)}`);
    expect(past.status).toBe(400);
    expect(past.body.code).toBe('invalid_valid_until');
    const far = await patch(id, { loyalty: { tier: 'gold' } }, `?validUntil=${iso(T0 + 30 * DAY + 1)}`);
    expect(far.status).toBe(400);
    expect(far.body.code).toBe('invalid_valid_until');
    expect((await patch(id, { loyalty: { tier: 'gold' } }, `?validUntil=${iso(T0 + 30 * DAY)}`)).status).toBe(204);
    const notATime = await patch(id, { loyalty: { tier: 'gold' } }, '?validUntil=tomorrow');
    expect(notATime.status).toBe(400);
  });

  it('validates fields against the profile schemas, naming the field', async () => {
    clock.set(T0);
    const id = await newPerson('RT-4');
    const unknown = await patch(id, { loyalty: { colour: 'red' } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.code).toBe('unknown_field');
    expect(String(unknown.body.message)).toContain('loyalty.colour');
    const wrong = await patch(id, { loyalty: { points: 'lots' } });
    expect(wrong.status).toBe(400);
    expect(wrong.body.code).toBe('invalid_field');
    expect(String(wrong.body.message)).toContain('loyalty.points');
    expect((await patch(id, 'text')).status).toBe(400);
    expect((await patch(id, {})).body.code).toBe('no_fields');
  });

  it('a newer source record ends the override early; an older one does not', async () => {
    clock.set(T0);
    const id = await newPerson('RT-5');
    clock.set(T0 + 1000);
    await patch(id, { loyalty: { tier: 'platinum' } });
    // A record stamped before the override: the override stays on top.
    await ingestBatch(ctx.ts.api, [{ datasetId: ctx.ds.web, record: { crmId: 'RT-5', loyalty: { tier: 'bronze' }, timestamp: iso(T0 + 500) } }]);
    expect((await profile(id)).body.attributes['loyalty']!['tier']).toBe('platinum');
    // A record stamped after it: the source has caught up.
    await ingestBatch(ctx.ts.api, [{ datasetId: ctx.ds.web, record: { crmId: 'RT-5', loyalty: { tier: 'gold' }, timestamp: iso(T0 + 2000) } }]);
    const p = await profile(id);
    expect(p.body.attributes['loyalty']!['tier']).toBe('gold');
    expect(p.body.fieldSources['loyalty.tier']).toMatchObject({ source: 'dataset', datasetName: 'web' });
  });

  it('never creates a profile: an unknown customerId is 404 and nothing is made', async () => {
    const res = await patch('00000000-0000-7000-8000-000000000000', { loyalty: { tier: 'gold' } });
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('profile_not_found');
    expect((await profile('00000000-0000-7000-8000-000000000000')).status).toBe(404);
    // The refused change is not kept in the lake either (the lake holds what was accepted).
    await ctx.ts.settled();
    expect(lakeText()).not.toContain('00000000-0000-7000-8000-000000000000');
  });

  it('a merged-away customerId updates the survivor, and overrides follow a merge', async () => {
    clock.set(T0);
    await ingestBatch(ctx.ts.api, [{ datasetId: ctx.ds.web, record: { personalEmail: { address: 'rtm@example.com' } } }]);
    await ingestBatch(ctx.ts.api, [{ datasetId: ctx.ds.web, record: { mobilePhone: { number: '+14155550177' } } }]);
    const a = String((await profileByIdentity(ctx.ts.api, 'email:rtm@example.com')).body.customerId);
    const b = String((await profileByIdentity(ctx.ts.api, 'phone:+14155550177')).body.customerId);
    const [older, younger] = [a, b].sort();
    // The override is on the profile that will be absorbed; the PATCH races with the merge.
    const racing = patch(younger!, { loyalty: { tier: 'vip' } });
    const merging = ingestBatch(ctx.ts.api, [{ datasetId: ctx.ds.crm, record: { crmId: 'RT-M', personalEmail: { address: 'rtm@example.com' }, mobilePhone: { number: '+14155550177' } } }]);
    expect((await racing).status).toBe(204);
    await merging;
    const p = await profile(older!);
    expect(p.body.attributes['loyalty']).toEqual({ tier: 'vip' });
    expect(p.body.previousCustomerIds).toEqual([younger]);
    // And a PATCH to the absorbed id now lands on the survivor.
    expect((await patch(younger!, { loyalty: { points: 99 } })).status).toBe(204);
    expect((await profile(older!)).body.attributes['loyalty']).toEqual({ tier: 'vip', points: 99 });
  });

  it('overrides follow a chain of merges made by one batch, the newest per field staying', async () => {
    clock.set(T0);
    const person = async (email: string): Promise<string> => {
      await ingestBatch(ctx.ts.api, [{ datasetId: ctx.ds.web, record: { personalEmail: { address: email }, loyalty: { points: 10 } } }]);
      return String((await profileByIdentity(ctx.ts.api, `email:${email}`)).body.customerId);
    };
    const first = await person('ch1@example.com');
    const second = await person('ch2@example.com');
    const third = await person('ch3@example.com');
    expect([first, second, third]).toEqual([first, second, third].sort());
    expect((await patch(second, { loyalty: { tier: 'gold' }, homeAddress: { city: 'Leeds' } })).status).toBe(204);
    clock.set(T0 + 1000);
    expect((await patch(third, { loyalty: { tier: 'platinum' } })).status).toBe(204);
    expect((await patch(first, { homeAddress: { city: 'Porto' } })).status).toBe(204);
    clock.set(T0 + 2000);
    // The second absorbs the third, then the first absorbs the second: the third's content ends on the first.
    const res = await ingestBatch(ctx.ts.api, [
      { datasetId: ctx.ds.crm, record: { personalEmail: { address: 'ch2@example.com' }, mobilePhone: { number: '+14155550141' } } },
      { datasetId: ctx.ds.crm, record: { personalEmail: { address: 'ch3@example.com' }, mobilePhone: { number: '+14155550141' } } },
      { datasetId: ctx.ds.crm, record: { personalEmail: { address: 'ch1@example.com' }, mobilePhone: { number: '+14155550141' } } },
    ]);
    expect(res.status).toBe(207);
    const p = await profile(third);
    expect(p.body.customerId).toBe(first);
    expect([...(p.body.previousCustomerIds as unknown as string[])].sort()).toEqual([second, third]);
    expect(p.body.attributes['loyalty']).toEqual({ tier: 'platinum', points: 10 });
    expect(p.body.attributes['homeAddress']).toEqual({ city: 'Porto' });
    expect((await profile(second)).body.customerId).toBe(first);
    // The survivor's history names what it absorbed itself (the second, and the third too where the
    // scale-out mode applied the third's record after the first's, in another partition).
    const history = await ctx.ts.api('GET', `/api/instances/default/profiles/${first}/merges`);
    const absorbed = (history.body.merges as unknown as Array<{ survivorId: string; absorbedId: string }>).map((m) => m.absorbedId);
    expect(absorbed).toContain(second);
    expect(absorbed.every((id) => id === second || id === third)).toBe(true);
  });

  it('reads its own writes, every time', async () => {
    clock.set(T0);
    const id = await newPerson('RT-RYW');
    for (let i = 0; i < 2000; i++) {
      expect((await patch(id, { loyalty: { points: i } })).status).toBe(204);
      const p = await profile(id);
      if (p.body.attributes['loyalty']!['points'] !== (i as unknown)) throw new Error(`iteration ${i}: read ${JSON.stringify(p.body.attributes)}`);
    }
    // 4,000 requests in a row: minutes on a loaded 2-core machine, which is no failure.
  }, 600_000);
});

describe('real-time activities', () => {
  const activity = (customerId: string, id: string, extra: Record<string, unknown> = {}) => ({
    ActivityId: id,
    CustomerId: customerId,
    ActivityTime: iso(T0 - HOUR),
    ActivityType: 'SupportCall',
    ActivityTypeDisplay: 'Support call',
    SourceTableName: 'calls',
    SourceActivityId: `call-${id}`,
    Title: 'Called about an order',
    Description: 'Late delivery',
    URL: 'https://crm.example.com/calls/1',
    SemanticData: { duration: 300 },
    ...extra,
  });
  const post = (body: unknown, query = '') => ctx.ts.api('POST', `/api/instances/default/data/UnifiedActivity${query}`, { body });
  const timeline = (id: string) => ctx.ts.api('GET', `/api/instances/default/profiles/${id}/timeline`);

  it('adds a UnifiedActivity at once (201), again with the same body (200), differently (409)', async () => {
    clock.set(T0);
    const id = await newPerson('RA-1');
    const created = await post(activity(id, 'A-1'), '?caller=phone-system');
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ activityId: 'A-1', customerId: id, datasetId: 'UnifiedActivity', type: 'SupportCall', validUntil: iso(T0 + 30 * DAY) });
    expect(created.body.record).toEqual(activity(id, 'A-1'));
    const items = (await timeline(id)).body.items as unknown as Array<{ activityId: string }>;
    expect(items.map((i) => i.activityId)).toEqual(['A-1']);
    const again = await post(activity(id, 'A-1'));
    expect(again.status).toBe(200);
    expect(again.body.activityId).toBe('A-1');
    const changed = await post(activity(id, 'A-1', { Title: 'Something else' }));
    expect(changed.status).toBe(409);
    expect(changed.body.code).toBe('activity_conflict');
  });

  it('reads its own activities, every time', async () => {
    clock.set(T0);
    const id = await newPerson('RA-RYW');
    for (let i = 0; i < 1500; i++) {
      // Each one later than the last: it is the newest on the timeline's first page.
      const created = await post(activity(id, `RYW-${i}`, { ActivityTime: iso(T0 - DAY + i * 1000) }));
      expect(created.status).toBe(201);
      const items = (await timeline(id)).body.items as unknown as Array<{ activityId: string }>;
      if (items[0]?.activityId !== `RYW-${i}`) throw new Error(`iteration ${i}: newest on the timeline is ${items[0]?.activityId}`);
    }
  }, 600_000);

  it('an activity leaves the timeline at its validUntil (the 30-day boundary by default)', async () => {
    clock.set(T0);
    const id = await newPerson('RA-2');
    expect((await post(activity(id, 'A-2'))).status).toBe(201);
    expect((await post(activity(id, 'A-3'), `?validUntil=${iso(T0 + 30 * DAY)}`)).status).toBe(201);
    expect((await post(activity(id, 'A-4'), `?validUntil=${iso(T0 + 30 * DAY + 1)}`)).status).toBe(400);
    clock.set(T0 + 30 * DAY - 1);
    expect(((await timeline(id)).body.items as unknown as unknown[]).length).toBe(2);
    clock.set(T0 + 30 * DAY);
    expect(((await timeline(id)).body.items as unknown as unknown[]).length).toBe(0);
  });

  it('an activity for no existing profile is 404; a bad body is 400', async () => {
    const missing = await post(activity('00000000-0000-7000-8000-000000000001', 'A-9'));
    expect(missing.status).toBe(404);
    await ctx.ts.settled();
    expect(lakeText()).not.toContain('00000000-0000-7000-8000-000000000001');
    const bad = await post({ CustomerId: 'x', ActivityType: 'x' });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('invalid_request');
  });

  it('takes an activity in a dataset\'s source format, tied to the profile by its identities', async () => {
    clock.set(T0);
    const id = await newPerson('RA-5');
    const res = await ctx.ts.api('POST', '/api/instances/default/data/events', { body: { _id: 'src-1', timestamp: iso(T0 - 5000), eventType: 'order', identityMap: { crmId: [{ id: 'RA-5' }] } } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ activityId: 'src-1', customerId: id, type: 'order', validUntil: iso(T0 + 30 * DAY) });
    const nobody = await ctx.ts.api('POST', '/api/instances/default/data/events', { body: { _id: 'src-2', timestamp: iso(T0), identityMap: { crmId: [{ id: 'NOBODY' }] } } });
    expect(nobody.status).toBe(404);
    expect((await profileByIdentity(ctx.ts.api, 'crmId:NOBODY')).status).toBe(404);
    const invalidBody = await ctx.ts.api('POST', '/api/instances/default/data/events', { body: { _id: 'src-3', identityMap: { crmId: [{ id: 'RA-5' }] } } });
    expect(invalidBody.status).toBe(400);
    const profileDataset = await ctx.ts.api('POST', '/api/instances/default/data/crm', { body: { crmId: 'RA-5' } });
    expect(profileDataset.status).toBe(400);
    expect(profileDataset.body.code).toBe('not_an_activity_dataset');
  });

  it('the sweeper removes expired rows without changing any answer', async () => {
    clock.set(T0);
    const id = await newPerson('RA-6');
    await patch(id, { loyalty: { tier: 'gold' } }, `?validUntil=${iso(T0 + HOUR)}`);
    await patch(id, { loyalty: { points: 1 } }, `?validUntil=${iso(T0 + 3 * HOUR)}`);
    await post(activity(id, 'A-6'), `?validUntil=${iso(T0 + HOUR)}`);
    await post(activity(id, 'A-7'), `?validUntil=${iso(T0 + 3 * HOUR)}`);
    clock.set(T0 + 2 * HOUR);
    const before = { p: (await profile(id)).body, t: (await timeline(id)).body };
    const swept = await ctx.ts.server.tessera.sweep();
    expect(swept.overrides).toBeGreaterThanOrEqual(1);
    expect(swept.activities).toBeGreaterThanOrEqual(1);
    const after = { p: (await profile(id)).body, t: (await timeline(id)).body };
    expect(after).toEqual(before);
    expect(before.p['attributes']!['loyalty']).toEqual({ tier: 'silver', points: 1 });
    expect((before.t['items'] as unknown as Array<{ activityId: string }>).map((i) => i.activityId)).toEqual(['A-7']);
  });
});

describe('entity metadata and key ring', () => {
  it('describes UnifiedActivity, Customer and a dataset with an example document', async () => {
    const ua = await ctx.ts.api('GET', '/api/instances/default/manage/entities/UnifiedActivity');
    expect(ua.status).toBe(200);
    const fields = ua.body.fields as unknown as Array<{ name: string; type: string; required: boolean }>;
    expect(fields.find((f) => f.name === 'ActivityTime')).toEqual({ name: 'ActivityTime', type: 'string', required: true, format: 'date-time' });
    expect(fields.find((f) => f.name === 'Title')).toMatchObject({ type: 'string', required: false });
    expect(ua.body.example!['ActivityTime']).toBe('2026-01-01T00:00:00.000Z');
    const customer = await ctx.ts.api('GET', '/api/instances/default/manage/entities/Customer');
    const cf = (customer.body.fields as unknown as Array<{ name: string; type: string }>).map((f) => `${f.name}:${f.type}`);
    expect(cf).toContain('customerId:string');
    expect(cf).toContain('loyalty.points:number');
    const events = await ctx.ts.api('GET', '/api/instances/default/manage/entities/events');
    expect(events.body.class).toBe('activity');
    expect((await ctx.ts.api('GET', '/api/instances/default/manage/entities/nope')).status).toBe(404);
  });

  it('finds a profile by a source record key and lists its key ring', async () => {
    clock.set(T0);
    const id = await newPerson('KR-1');
    await ingestBatch(ctx.ts.api, [{ datasetId: ctx.ds.web, record: { crmId: 'KR-1', personalEmail: { address: 'kr1@example.com' } } }]);
    const ring = await ctx.ts.api('GET', '/api/instances/default/profile/keyring?dataSourceName=crm&key=KR-1');
    expect(ring.status).toBe(200);
    expect(ring.body.customerId).toBe(id);
    expect(ring.body.keyRing).toEqual([
      { kind: 'identity', namespace: 'crmId', value: 'KR-1' },
      { kind: 'identity', namespace: 'email', value: 'kr1@example.com' },
      { kind: 'sourceKey', dataSourceName: 'crm', key: 'crmId:KR-1' },
      { kind: 'sourceKey', dataSourceName: 'web', key: 'crmId:KR-1' },
    ]);
    expect((await ctx.ts.api('GET', '/api/instances/default/profile/keyring?entityName=crm&key=nope')).status).toBe(404);
  });
});
