import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ingestBatch, profileByIdentity, usePeopleServer } from './helpers/fixtures.js';

const ctx = usePeopleServer();

describe('streaming ingestion', () => {
  it('answers a batch per message, in order; invalid messages never block valid ones', async () => {
    const res = await ingestBatch(ctx.ts.api, [
      { datasetId: ctx.ds.crm, record: { crmId: 'B-1' } },
      { datasetId: 'no-such-dataset', record: { crmId: 'B-2' } },
      { header: { datasetId: ctx.ds.crm }, body: { xdmEntity: { crmId: 'B-3' } } },
      'not an object',
      { datasetId: ctx.ds.crm, record: { crmId: 'B-4', loyalty: { points: 'many' } } },
      { record: { crmId: 'B-5' } },
    ]);
    expect(res.status).toBe(207);
    const results = res.body.results as unknown as Array<{ index: number; status: number; error?: { code: string } }>;
    expect(results.map((r) => [r.index, r.status, r.error?.code ?? null])).toEqual([
      [0, 200, null],
      [1, 404, 'dataset_not_found'],
      [2, 200, null],
      [3, 400, 'invalid_message'],
      [4, 200, null], // acknowledged; validation is asynchronous and the record lands in the failed records
      [5, 400, 'dataset_required'],
    ]);
    expect((await profileByIdentity(ctx.ts.api, 'crmId:B-1')).status).toBe(200);
    expect((await profileByIdentity(ctx.ts.api, 'crmId:B-3')).status).toBe(200);
    expect((await profileByIdentity(ctx.ts.api, 'crmId:B-4')).status).toBe(404);
    const failed = await ctx.ts.api('GET', `/api/instances/default/manage/datasets/${ctx.ds.crm}/failed`);
    const f = failed.body.failed as unknown as Array<{ record: { crmId: string }; errors: Array<{ path: string; keyword: string; message: string }> }>;
    const b4 = f.find((x) => x.record.crmId === 'B-4')!;
    expect(b4.errors).toEqual([{ path: '/loyalty/points', keyword: 'type', message: 'must be number' }]);
  });

  it('validates synchronously on request and returns every violation', async () => {
    const bad = await ctx.ts.api('POST', `/api/instances/default/collection/${ctx.ds.crm}?syncValidation=true`, {
      body: { record: { crmId: 7, loyalty: { points: 'x', tier: 3 }, timestamp: 'yesterday' } },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('schema_violation');
    const paths = (bad.body.details as unknown as Array<{ path: string; keyword: string }>).map((d) => `${d.path} ${d.keyword}`).sort();
    expect(paths).toEqual(['/crmId type', '/loyalty/points type', '/loyalty/tier type', '/timestamp format']);
    const good = await ctx.ts.api('POST', `/api/instances/default/collection/${ctx.ds.crm}?syncValidation=true`, { body: { record: { crmId: 'S-1' } } });
    expect(good.status).toBe(200);
    expect(good.body.validation).toBe('passed');
    expect((await profileByIdentity(ctx.ts.api, 'crmId:S-1')).status).toBe(200);
  });

  it('takes a gzip\'d body (Content-Encoding: gzip) as the same body sent plain', async () => {
    const messages = [{ datasetId: ctx.ds.crm, record: { crmId: 'GZ-1', personalEmail: { address: 'gz@example.com' } } }];
    const res = await ctx.ts.api('POST', '/api/instances/default/collection/batch', { raw: gzipSync(JSON.stringify({ messages })), headers: { 'content-encoding': 'gzip' } });
    expect(res.status, JSON.stringify(res.body)).toBe(207);
    expect((res.body.results as unknown as Array<{ status: number }>).map((r) => r.status)).toEqual([200]);
    const profile = await profileByIdentity(ctx.ts.api, 'email:gz@example.com');
    expect(profile.status).toBe(200);
    expect(profile.body.attributes).toEqual({ crmId: 'GZ-1', personalEmail: { address: 'gz@example.com' } });
  });

  it('reads and deletes a record by a long key (a 300-character id) through the URL', async () => {
    const key = `L${'o'.repeat(298)}G`;
    expect((await ingestBatch(ctx.ts.api, [{ datasetId: ctx.ds.crm, record: { crmId: key } }])).status).toBe(207);
    expect((await profileByIdentity(ctx.ts.api, `crmId:${key}`)).status).toBe(200);
    expect((await ctx.ts.api('DELETE', `/api/instances/default/manage/datasets/crm/records/${key}`)).status).toBe(204);
    expect((await profileByIdentity(ctx.ts.api, `crmId:${key}`)).status).toBe(404);
    const tooLong = await ctx.ts.api('DELETE', `/api/instances/default/manage/datasets/crm/records/${'x'.repeat(2100)}`);
    expect(tooLong.status).toBe(414);
    expect(tooLong.body.code).toBe('path_segment_too_long');
    expect(tooLong.body.message).toBe('a path segment (an id or record key) is longer than 2,048 characters');
  });

  it('replaying the same batch twice changes nothing', async () => {
    const messages = [
      { datasetId: ctx.ds.crm, record: { crmId: 'R-1', personalEmail: { address: 'r1@example.com' }, timestamp: '2026-03-01T00:00:00Z' } },
      { datasetId: ctx.ds.web, record: { personalEmail: { address: 'r1@example.com' }, loyalty: { tier: 'gold' }, timestamp: '2026-03-02T00:00:00Z' } },
      { datasetId: ctx.ds.events, record: { _id: 'evt-r1', timestamp: '2026-03-03T00:00:00Z', eventType: 'order', identityMap: { email: [{ id: 'r1@example.com' }] } } },
    ];
    await ingestBatch(ctx.ts.api, messages);
    const snapshot = async () => {
      const p = await profileByIdentity(ctx.ts.api, 'crmId:R-1');
      const id = String(p.body.customerId);
      return {
        profile: p.body,
        fragments: (await ctx.ts.api('GET', `/api/instances/default/profiles/${id}/fragments`)).body,
        timeline: (await ctx.ts.api('GET', `/api/instances/default/profiles/${id}/timeline`)).body,
        merges: (await ctx.ts.api('GET', `/api/instances/default/profiles/${id}/merges`)).body,
        failed: (await ctx.ts.api('GET', `/api/instances/default/manage/datasets/${ctx.ds.events}/failed`)).body,
      };
    };
    const first = await snapshot();
    await ingestBatch(ctx.ts.api, messages);
    const second = await snapshot();
    expect(second).toEqual(first);
    expect(first.timeline['items']).toHaveLength(1);
  });

  it('merges by timestampOrdered with per-field timestamps, or by datasetPrecedence on request', async () => {
    await ingestBatch(ctx.ts.api, [
      { datasetId: ctx.ds.crm, record: { crmId: 'M-1', loyalty: { tier: 'silver', points: 5 }, homeAddress: { street1: '1 Old Rd', city: 'Oldtown', postalCode: '111' }, timestamp: '2026-01-01T00:00:00Z' } },
      { datasetId: ctx.ds.web, record: { crmId: 'M-1', loyalty: { tier: 'gold' }, homeAddress: { city: 'Newtown' }, timestamp: '2026-02-01T00:00:00Z' } },
    ]);
    const newest = await profileByIdentity(ctx.ts.api, 'crmId:M-1');
    expect(newest.body.mergePolicy).toBe('timestampOrdered');
    expect(newest.body.attributes['loyalty']).toEqual({ tier: 'gold', points: 5 });
    // The address is a field group: taken whole from the newest source.
    expect(newest.body.attributes['homeAddress']).toEqual({ city: 'Newtown' });
    expect(newest.body.fieldSources['loyalty.tier']).toMatchObject({ datasetName: 'web', lastUpdated: '2026-02-01T00:00:00.000Z' });
    expect(newest.body.fieldSources['loyalty.points']).toMatchObject({ datasetName: 'crm', lastUpdated: '2026-01-01T00:00:00.000Z' });
    const ranked = await ctx.ts.api('GET', `/api/instances/default/profiles/${String(newest.body.customerId)}?mergePolicy=datasetPrecedence`);
    expect(ranked.body.attributes['loyalty']).toEqual({ tier: 'silver', points: 5 });
    expect(ranked.body.attributes['homeAddress']).toEqual({ street1: '1 Old Rd', city: 'Oldtown', postalCode: '111' });
  });

  it('keeps records, identities and activity ids as sent, whatever characters their texts hold', async () => {
    // Quotes, backslashes, control characters (U+001E among them: the PostgreSQL writer joins a column's texts with it), non-BMP characters.
    const text = 'say "hi" \\ back\\slash \u001e rs \u0001 soh \t tab \n line é 😀 {x} [y] ,';
    const crmId = 'RT-1 "q" \\ {a,b} \u001e 😀';
    const eventId = 'rt-ev-1 \u001e "e" \\';
    await ingestBatch(ctx.ts.api, [
      { datasetId: ctx.ds.crm, record: { crmId, person: { name: { fullName: `${text} \u0000 nul` } }, homeAddress: { street1: '\u001e', city: '"' } } },
      { datasetId: ctx.ds.events, record: { _id: eventId, timestamp: '2026-01-01T00:00:00Z', eventType: text, identityMap: { crmId: [{ id: crmId }] } } },
      // Plain texts in the same group (their columns go joined, the others' as arrays).
      { datasetId: ctx.ds.crm, record: { crmId: 'RT-2', person: { name: { fullName: 'Plain' } } } },
      { datasetId: ctx.ds.events, record: { _id: 'rt-ev-2', timestamp: '2026-01-02T00:00:00Z', eventType: 'plain', identityMap: { crmId: [{ id: 'RT-2' }] } } },
    ]);
    const profile = await profileByIdentity(ctx.ts.api, `crmId:${crmId}`);
    expect(profile.status).toBe(200);
    const id = String(profile.body.customerId);
    const fragments = (await ctx.ts.api('GET', `/api/instances/default/profiles/${id}/fragments`)).body.fragments as unknown as Array<{ record: Record<string, unknown> }>;
    expect(fragments.map((f) => f.record)).toEqual([{ crmId, person: { name: { fullName: `${text} \u0000 nul` } }, homeAddress: { street1: '\u001e', city: '"' } }]);
    const identities = (await ctx.ts.api('GET', `/api/instances/default/profiles/${id}/identities`)).body.identities as unknown as Array<{ namespace: string; value: string }>;
    expect(identities.map((i) => [i.namespace, i.value])).toEqual([['crmId', crmId]]);
    const timeline = (await ctx.ts.api('GET', `/api/instances/default/profiles/${id}/timeline`)).body.items as unknown as Array<{ activityId: string; record: Record<string, unknown> }>;
    expect(timeline.map((a) => [a.activityId, a.record['eventType']])).toEqual([[eventId, text]]);
    const plain = await profileByIdentity(ctx.ts.api, 'crmId:RT-2');
    const plainTimeline = (await ctx.ts.api('GET', `/api/instances/default/profiles/${String(plain.body.customerId)}/timeline`)).body.items as unknown as Array<{ activityId: string }>;
    expect(plainTimeline.map((a) => a.activityId)).toEqual(['rt-ev-2']);
  });

  it('refuses a NUL character in an identity, an activity id or a type, alike on every backend', async () => {
    const res = await ingestBatch(ctx.ts.api, [
      { datasetId: ctx.ds.events, record: { _id: 'nul-ev-1', timestamp: '2026-01-01T00:00:00Z', eventType: 'a\u0000b', identityMap: { crmId: [{ id: 'NUL-1' }] } } },
      { datasetId: ctx.ds.crm, record: { crmId: 'NUL\u00002' } },
      { datasetId: ctx.ds.crm, record: { crmId: 'NUL-3', person: { name: { fullName: 'a\u0000b' } } } },
    ]);
    // Acknowledged (validation is asynchronous): the first two land in the failed records, the third is applied (its NUL stays inside its JSON).
    expect((res.body.results as unknown as Array<{ status: number }>).map((r) => r.status)).toEqual([200, 200, 200]);
    const failed = (await ctx.ts.api('GET', `/api/instances/default/manage/datasets/${ctx.ds.events}/failed`)).body.failed as unknown as Array<{ record: { _id?: string }; errors: unknown[] }>;
    expect(failed.find((f) => f.record._id === 'nul-ev-1')?.errors).toEqual([{ path: '/eventType', keyword: 'nul_character', message: 'the activity type must not hold a NUL character (U+0000)' }]);
    const crmFailed = (await ctx.ts.api('GET', `/api/instances/default/manage/datasets/${ctx.ds.crm}/failed`)).body.failed as unknown as Array<{ record: { crmId?: string }; errors: unknown[] }>;
    expect(crmFailed.find((f) => f.record.crmId === 'NUL\u00002')?.errors).toEqual([{ path: '/', keyword: 'nul_character', message: 'the crmId identity must not hold a NUL character (U+0000)' }]);
    expect((await profileByIdentity(ctx.ts.api, 'crmId:NUL-1')).status).toBe(404);
    expect((await profileByIdentity(ctx.ts.api, 'crmId:NUL-3')).status).toBe(200);
    const sync = await ctx.ts.api('POST', `/api/instances/default/collection/${ctx.ds.events}?syncValidation=true`, {
      body: { record: { _id: 'nul\u0000ev', timestamp: '2026-01-01T00:00:00Z', identityMap: { crmId: [{ id: 'NUL-4' }] } } },
    });
    expect(sync.status).toBe(400);
    expect(sync.body.code).toBe('nul_character');
    expect(sync.body.details).toEqual([{ path: '/_id', keyword: 'nul_character', message: 'the activity id must not hold a NUL character (U+0000)' }]);
  });

  it('pages the timeline newest first with type and time filters', async () => {
    const messages = [];
    for (let i = 0; i < 25; i++) {
      messages.push({
        datasetId: ctx.ds.events,
        record: { _id: `tl-${i}`, timestamp: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(), eventType: i % 2 === 0 ? 'view' : 'order', identityMap: { crmId: [{ id: 'TL-1' }] } },
      });
    }
    await ingestBatch(ctx.ts.api, messages);
    const id = String((await profileByIdentity(ctx.ts.api, 'crmId:TL-1')).body.customerId);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { items: Array<{ activityId: string }>; nextCursor: string | null } } = await ctx.ts.api('GET', `/api/instances/default/profiles/${id}/timeline?limit=10${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.body.items.map((i) => i.activityId));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => `tl-${24 - i}`));
    const orders = await ctx.ts.api('GET', `/api/instances/default/profiles/${id}/timeline?type=order&from=2026-01-01T00:10:00Z&to=2026-01-01T00:20:00Z`);
    expect((orders.body.items as unknown as Array<{ activityId: string }>).map((i) => i.activityId)).toEqual(['tl-19', 'tl-17', 'tl-15', 'tl-13', 'tl-11']);
  });
});

describe('bad input', () => {
  const path = () => `/api/instances/default/collection/${ctx.ds.crm}`;
  const cases: Array<{ name: string; send: () => Promise<{ status: number; body: { code?: unknown } }>; status: number; code: string }> = [
    { name: 'truncated JSON', send: () => ctx.ts.api('POST', path(), { raw: '{"record": {"crmId": "x"' }), status: 400, code: 'malformed_json' },
    { name: 'empty body', send: () => ctx.ts.api('POST', path(), { raw: '' }), status: 400, code: 'empty_body' },
    { name: 'wrong content type', send: () => ctx.ts.api('POST', path(), { raw: 'crmId=x', headers: { 'content-type': 'text/plain' } }), status: 415, code: 'unsupported_media_type' },
    { name: 'invalid UTF-8', send: () => ctx.ts.api('POST', path(), { raw: Buffer.concat([Buffer.from('{"record":{"crmId":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}}')]) }), status: 400, code: 'invalid_utf8' },
    { name: 'body over 1 MB', send: () => ctx.ts.api('POST', path(), { body: { record: { crmId: 'x', pad: 'a'.repeat(1_100_000) } } }), status: 413, code: 'body_too_large' },
    { name: 'record over 100 KB', send: () => ctx.ts.api('POST', path(), { body: { record: { crmId: 'x', pad: 'a'.repeat(150_000) } } }), status: 413, code: 'record_too_large' },
    {
      name: 'deeply nested JSON',
      send: () => ctx.ts.api('POST', path(), { raw: `{"record":{"crmId":"deep","x":${'['.repeat(5000)}${']'.repeat(5000)}}}` }),
      status: 400,
      code: 'record_too_deep',
    },
    { name: 'huge array of messages', send: () => ctx.ts.api('POST', '/api/instances/default/collection/batch', { body: { messages: new Array(20_000).fill(0) } }), status: 400, code: 'batch_too_large' },
    { name: 'wrong type of body', send: () => ctx.ts.api('POST', '/api/instances/default/collection/batch', { body: [1, 2, 3] }), status: 400, code: 'invalid_batch' },
    { name: 'record not an object', send: () => ctx.ts.api('POST', path(), { body: { record: [1, 2] } }), status: 400, code: 'record_not_object' },
    { name: 'unknown message shape', send: () => ctx.ts.api('POST', path(), { body: { crmId: 'x' } }), status: 400, code: 'invalid_message' },
    { name: 'bad query parameter', send: () => ctx.ts.api('POST', `${path()}?syncValidation=maybe`, { body: { record: { crmId: 'x' } } }), status: 400, code: 'invalid_request' },
    { name: 'a limit too large for a number', send: () => ctx.ts.api('GET', '/api/instances/default/profiles?limit=1e309'), status: 400, code: 'invalid_request' },
    { name: 'a paging offset beyond any row', send: () => ctx.ts.api('GET', `/api/instances/default/manage/identity-warnings?offset=${'9'.repeat(40)}`), status: 400, code: 'invalid_request' },
    { name: 'a time beyond any date', send: () => ctx.ts.api('GET', `/api/instances/default/profiles/x/timeline?from=${'9'.repeat(40)}`), status: 400, code: 'invalid_time' },
    { name: 'NUL character in a schema name', send: () => ctx.ts.api('POST', '/api/instances/default/manage/schemas', { body: { name: 'a\u0000b', class: 'profile', jsonSchema: {} } }), status: 400, code: 'nul_character' },
    { name: 'a schema name taken', send: () => ctx.ts.api('POST', '/api/instances/default/manage/schemas', { body: { name: 'Person', class: 'profile', jsonSchema: {} } }), status: 409, code: 'schema_exists' },
    { name: 'a dataset name taken', send: () => ctx.ts.api('POST', '/api/instances/default/manage/datasets', { body: { name: 'crm', schemaId: ctx.ds.schemaId } }), status: 409, code: 'dataset_exists' },
    { name: 'an unsupported content encoding', send: () => ctx.ts.api('POST', path(), { raw: '{"record":{"crmId":"br"}}', headers: { 'content-encoding': 'br' } }), status: 415, code: 'unsupported_content_encoding' },
    { name: 'a plain body said to be gzip', send: () => ctx.ts.api('POST', path(), { raw: '{"record":{"crmId":"gz"}}', headers: { 'content-encoding': 'gzip' } }), status: 400, code: 'invalid_gzip' },
    { name: 'a gzip\'d record over 100 KB', send: () => ctx.ts.api('POST', path(), { raw: gzipSync(JSON.stringify({ record: { crmId: 'x', pad: 'a'.repeat(150_000) } })), headers: { 'content-encoding': 'gzip' } }), status: 413, code: 'record_too_large' },
    { name: 'a gzip\'d body over 1 MB once inflated', send: () => ctx.ts.api('POST', path(), { raw: gzipSync(JSON.stringify({ record: { crmId: 'x', pad: 'a'.repeat(1_100_000) } })), headers: { 'content-encoding': 'gzip' } }), status: 413, code: 'body_too_large' },
    { name: 'unknown route', send: () => ctx.ts.api('GET', '/api/instances/default/nothing-here'), status: 404, code: 'route_not_found' },
    { name: 'NUL character in a profile id', send: () => ctx.ts.api('GET', '/api/instances/default/profiles/a%00b'), status: 400, code: 'nul_character' },
    { name: 'NUL character in an identity lookup', send: () => ctx.ts.api('GET', '/api/instances/default/profiles?identity=crmId:a%00b'), status: 400, code: 'nul_character' },
    {
      name: 'NUL character in a real-time activity type',
      send: () => ctx.ts.api('POST', '/api/instances/default/data/UnifiedActivity', { body: { ActivityId: 'nul-ua', ActivityTime: '2026-01-01T00:00:00Z', ActivityType: 'a\u0000b', CustomerId: 'c-1' } }),
      status: 400,
      code: 'nul_character',
    },
    { name: 'bad schema body', send: () => ctx.ts.api('POST', '/api/instances/default/manage/schemas', { body: { name: 'x', class: 'thing', jsonSchema: {} } }), status: 400, code: 'invalid_request' },
    { name: 'invalid JSON Schema', send: () => ctx.ts.api('POST', '/api/instances/default/manage/schemas', { body: { name: 'bad', class: 'profile', jsonSchema: { type: 'nonsense' } } }), status: 400, code: 'invalid_json_schema' },
    { name: 'bad identity lookup', send: () => ctx.ts.api('GET', '/api/instances/default/profiles?identity=nonamespace'), status: 400, code: 'invalid_identity' },
    { name: 'bad timeline cursor', send: () => ctx.ts.api('GET', '/api/instances/default/profiles/x/timeline?cursor=zzz'), status: 404, code: 'profile_not_found' },
  ];
  for (const c of cases) {
    it(`${c.name} → ${c.status} ${c.code}`, async () => {
      const res = await c.send();
      expect(res.status, JSON.stringify(res.body)).toBe(c.status);
      expect(res.body.code).toBe(c.code);
      expect((await ctx.ts.api('GET', '/healthz')).status).toBe(200);
    });
  }

  it('a batch with a huge array inside a record rejects that record only', async () => {
    const res = await ingestBatch(ctx.ts.api, [
      { datasetId: ctx.ds.crm, record: { crmId: 'H-1', big: new Array(60_000).fill(1) } },
      { datasetId: ctx.ds.crm, record: { crmId: 'H-2' } },
    ]);
    expect(res.status).toBe(207);
    const results = res.body.results as unknown as Array<{ status: number; error?: { code: string } }>;
    expect(results[0]!.status).toBe(413);
    expect(results[0]!.error!.code).toBe('record_too_large');
    expect(results[1]!.status).toBe(200);
  });
});
