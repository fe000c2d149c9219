import { describe, expect, it } from 'vitest';
import { TesseraApiError, TesseraClient, type ApiDocument } from '../src/client/index.js';
import { ADMIN_KEY } from './helpers/server.js';
import { usePeopleServer } from './helpers/fixtures.js';

const ctx = usePeopleServer();
const client = (): TesseraClient => new TesseraClient({ baseUrl: ctx.ts.url, apiKey: ADMIN_KEY });

describe('TesseraClient', () => {
  it('covers the data plane: ingest, batch helper, real-time, reads, batches', async () => {
    const c = client();
    const results = await c.ingestAll(
      Array.from({ length: 1200 }, (_, i) => ({ datasetId: ctx.ds.crm, record: { crmId: `CL-${i}` } })),
      { batchSize: 250, concurrency: 3 },
    );
    expect(results).toHaveLength(1200);
    expect(results.map((r) => r['index'])).toEqual(Array.from({ length: 1200 }, (_, i) => i));
    expect(results.every((r) => r['status'] === 200)).toBe(true);
    await ctx.ts.settled();
    const p = await c.profileByIdentity('crmId:CL-1199');
    const id = String(p['customerId']);
    await c.updateCustomer(id, { loyalty: { tier: 'gold' } }, { caller: 'client-test' });
    expect((await c.profile(id))['attributes']).toEqual({ crmId: 'CL-1199', loyalty: { tier: 'gold' } });
    const act = await c.createActivity({ ActivityId: 'cl-a1', CustomerId: id, ActivityTime: '2026-01-01T00:00:00Z', ActivityType: 'Call' });
    expect(act['activityId']).toBe('cl-a1');
    expect(((await c.timeline(id))['items'] as unknown[]).length).toBe(1);
    const batch = await c.createBatch({ datasetId: 'crm', format: 'ndjson' });
    await c.uploadBatchFile(String(batch['id']), 'a.ndjson', '{"crmId":"CLB-1"}\n');
    await c.completeBatch(String(batch['id']));
    for (let b = await c.getBatch(String(batch['id'])); b['status'] === 'processing'; b = await c.getBatch(String(batch['id']))) await new Promise((r) => setTimeout(r, 50));
    expect((await c.profileByIdentity('crmId:CLB-1'))['customerId']).toBeDefined();
  });

  it('covers unification and refresh: settings, a run and its history, why two records match, deleting a source record', async () => {
    const c = client();
    const fields = { email: 'personalEmail.address' };
    const config = await c.putUnification({
      mode: 'rules',
      datasets: [{ dataset: 'crm', fields }, { dataset: 'web', fields }],
      pairs: [{ datasets: ['crm', 'web'], rules: [{ name: 'email', conditions: [{ field: 'email', normalizers: ['case'] }] }] }],
    });
    expect(config['mode']).toBe('rules');
    expect((await c.getUnification())['datasets']).toEqual(config['datasets']);
    await c.ingestBatch([
      { datasetId: ctx.ds.crm, record: { crmId: 'CU-1', personalEmail: { address: 'cu@example.com' } } },
      { datasetId: ctx.ds.web, record: { crmId: 'WU-1', personalEmail: { address: 'CU@Example.com' } } },
    ]);
    await ctx.ts.settled();
    const run = await c.startRefresh({ wait: true });
    expect(run['status']).toBe('success');
    expect((await c.refreshRun(String(run['id'])))['id']).toBe(run['id']);
    expect(((await c.refreshRuns({ limit: 10 }))['runs'] as ApiDocument[]).map((r) => r['id'])).toContain(run['id']);
    const why = await c.explainMatch('crm/CU-1', 'web/WU-1');
    expect(why).toMatchObject({ mode: 'rules', matched: true, sameProfile: true });
    await c.deleteSourceRecord('web', 'WU-1');
    const gone = await c.deleteSourceRecord('web', 'WU-1').catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(TesseraApiError);
    expect((gone as TesseraApiError).code).toBe('record_not_found');
  });

  it('has a method for every operation of the OpenAPI document (but the Segment-compatible /v1 routes, for Segment\'s own clients)', async () => {
    const doc = (await (await fetch(`${ctx.ts.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const template = (path: string): string => path.replace(/\{[^}]+\}/g, '_');
    const operations = Object.entries(doc.paths)
      .filter(([path]) => !path.startsWith('/v1/'))
      .flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${template(path)}`));
    // Every method called with placeholder arguments against a fetch that only records what it is asked.
    const asked = new Set<string>();
    const recording = new TesseraClient({
      baseUrl: 'http://tessera.invalid',
      apiKey: 'k',
      instanceId: '_',
      fetch: async (url, init) => {
        const path = new URL(String(url)).pathname.split('/').map((seg) => (seg === '' || /^[a-z-]+$/i.test(seg) ? seg : '_')).join('/');
        asked.add(`${init?.method ?? 'GET'} ${path}`);
        return new Response('{}', { status: 200, headers: { 'content-type': 'application/json' } });
      },
    });
    const methods = [...Object.keys(recording), ...Object.getOwnPropertyNames(TesseraClient.prototype)].filter((k) => k !== 'constructor' && k !== 'request' && k !== 'path' && typeof (recording as unknown as Record<string, unknown>)[k] === 'function');
    const call = (m: string): unknown => (recording as unknown as Record<string, (...a: unknown[]) => unknown>)[m]!('_', '_', '_');
    for (const m of methods) await Promise.resolve().then(() => call(m)).catch(() => undefined);
    expect(operations.length).toBeGreaterThan(40);
    expect(operations.filter((op) => !asked.has(op))).toEqual([]);
  });

  it('throws TesseraApiError with the status, code and details', async () => {
    const err = await client().profileByIdentity('crmId:nobody').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TesseraApiError);
    expect((err as TesseraApiError).status).toBe(404);
    expect((err as TesseraApiError).code).toBe('profile_not_found');
  });

  it('retries on 429 as Retry-After says, and every message lands once', async () => {
    const c = client();
    await c.updateSettings({ rateLimits: { requestsPerSecond: 5, messagesPerSecond: 1000, syncValidationPerMinute: 60 } });
    try {
      const started = Date.now();
      const answers = await Promise.all(Array.from({ length: 15 }, (_, i) => c.ingest(ctx.ds.crm, { crmId: `RT429-${i}` })));
      expect(answers).toHaveLength(15);
      // 5 pass at once; the bucket refills at 5 a second, so the rest need about two more seconds.
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      for (let i = 0; i < 15; i++) expect((await c.profileByIdentity(`crmId:RT429-${i}`))['customerId']).toBeDefined();
      const fragments = await c.fragments(String((await c.profileByIdentity('crmId:RT429-0'))['customerId']));
      expect(fragments['fragments']).toHaveLength(1);
    } finally {
      await c.updateSettings({ rateLimits: { requestsPerSecond: 1000, messagesPerSecond: 10000, syncValidationPerMinute: 60 } });
    }
  });
});
