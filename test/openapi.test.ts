import { describe, expect, it } from 'vitest';
import { validate } from '@readme/openapi-parser';
import { usePeopleServer } from './helpers/fixtures.js';
import { TEST_BACKEND } from './helpers/server.js';

const ctx = usePeopleServer();

describe('OpenAPI document and metrics', () => {
  it('validates and documents every route the server registers', async () => {
    const res = await fetch(`${ctx.ts.url}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    const result = await validate(structuredClone(doc) as never);
    expect(result.valid ? [] : result.errors).toEqual([]);
    expect(result.valid).toBe(true);
    const documented = new Set<string>();
    for (const [path, ops] of Object.entries(doc.paths)) for (const method of Object.keys(ops)) documented.add(`${method.toUpperCase()} ${path}`);
    const registered = ctx.ts.server.app.registeredRoutes
      .filter((r) => !r.hidden && r.method !== 'HEAD' && !r.url.startsWith('/docs'))
      .map((r) => `${r.method} ${r.url.replace(/:([A-Za-z]+)/g, '{$1}')}`);
    expect(registered.length).toBeGreaterThan(30);
    expect(registered.filter((r) => !documented.has(r))).toEqual([]);
    expect([...documented].filter((d) => !registered.includes(d))).toEqual([]);
    // Errors are documented too.
    expect(Object.keys(doc.paths['/api/instances/{instanceId}/collection/batch']!['post']!.responses)).toEqual(expect.arrayContaining(['400', '401', '403', '404', '413']));
    expect((await fetch(`${ctx.ts.url}/docs`)).status).toBeLessThan(400);
  });

  it('exposes Prometheus metrics for requests and the pipeline', async () => {
    await ctx.ts.api('POST', '/api/instances/default/collection/batch', { body: { messages: [{ datasetId: ctx.ds.crm, record: { crmId: 'MX-1' } }, { datasetId: ctx.ds.crm, record: { crmId: 5 } }] } });
    const text = await ctx.ts.metrics();
    expect(text).toMatch(/tessera_http_requests_total\{method="POST",route="\/api\/instances\/:instanceId\/collection\/batch",status="207"\} 1/);
    // Scale-out: the API node puts streaming ingestion in the log (queued); the worker applies it.
    if (TEST_BACKEND === 'nats') {
      expect(text).toMatch(/tessera_records_committed_total\{outcome="queued"\} 1/);
      expect(text).toMatch(/tessera_worker_records_total\{outcome="applied"\} 1/);
    } else expect(text).toMatch(/tessera_records_committed_total\{outcome="applied"\} \d+/);
    expect(text).toMatch(/tessera_failed_records_total 1/);
    expect(text).toContain('tessera_group_commit_seconds_bucket');
    expect(text).toContain('tessera_commit_queue_depth 0');
    expect(text).toContain('tessera_ingestion_lag_seconds_bucket');
    // A refused link (two crmIds, a unique namespace) counts as an identity warning.
    await ctx.ts.api('POST', '/api/instances/default/collection/batch', { body: { messages: [{ datasetId: ctx.ds.crm, record: { crmId: 'MX-2', personalEmail: { address: 'mx@example.com' } } }] } });
    await ctx.ts.api('POST', '/api/instances/default/collection/batch', { body: { messages: [{ datasetId: ctx.ds.crm, record: { crmId: 'MX-3', personalEmail: { address: 'mx@example.com' } } }] } });
    expect(await ctx.ts.metrics()).toMatch(TEST_BACKEND === 'nats' ? /tessera_worker_identity_warnings_total 1/ : /tessera_identity_warnings_total 1/);
    // Two profiles (an email, a cookie) merged by a record that carries both: one merge; three records applied in one batch.
    await ctx.ts.api('POST', '/api/instances/default/collection/batch', {
      body: {
        messages: [
          { datasetId: ctx.ds.crm, record: { identityMap: { email: [{ id: 'merge-metric@example.com' }] } } },
          { datasetId: ctx.ds.crm, record: { identityMap: { cookie: [{ id: 'merge-metric-cookie' }] } } },
          { datasetId: ctx.ds.crm, record: { identityMap: { email: [{ id: 'merge-metric@example.com' }], cookie: [{ id: 'merge-metric-cookie' }] } } },
        ],
      },
    });
    const after = await ctx.ts.metrics();
    expect(after).toMatch(TEST_BACKEND === 'nats' ? /tessera_worker_profile_merges_total 1\n/ : /tessera_profile_merges_total 1\n/);
    if (TEST_BACKEND !== 'nats') expect(after).toMatch(/tessera_records_committed_total\{outcome="applied"\} 6\n/);
  });
});

describe('health', () => {
  it('is live and ready while the store and the writer thread run', async () => {
    expect(await (await fetch(`${ctx.ts.url}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${ctx.ts.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', queueDepth: 0 });
  });
});
