import { describe, expect, it } from 'vitest';
import { TesseraApiError, TesseraClient } from '../src/client/index.js';
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
