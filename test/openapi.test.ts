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

  // Last in the file: it sends only what no route takes (so nothing changes), but many requests.
  it('answers junk in any documented route\'s path, query or body with a 4xx and a stable code, never a 5xx', async () => {
    const doc = (await (await fetch(`${ctx.ts.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string }> }>> };
    const JUNK = ['', '-1', '1e309', '9'.repeat(40), 'abc', 'x'.repeat(3000), '2026-13-45', ':', '%FF'];
    const BODIES = ['[]', '"x"', '1', 'null', '{"a":'];
    const encode = (v: string): string => (v === '%FF' ? v : encodeURIComponent(v));
    const failures: string[] = [];
    for (const [template, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const path = (segment: string): string => template.replace(/\{(\w+)\}/g, (_, name: string) => (name === 'instanceId' ? 'default' : encode(segment)));
        const requests: Array<[string, string | undefined]> = ['zz', '%FF', 'x'.repeat(300)].map((segment) => [path(segment), undefined]);
        if (method === 'get') for (const q of op.parameters?.filter((p) => p.in === 'query') ?? []) for (const v of JUNK) requests.push([`${path('zz')}?${q.name}=${encode(v)}`, undefined]);
        if (['post', 'put', 'patch'].includes(method)) for (const b of BODIES) requests.push([path('zz'), b]);
        for (const [url, raw] of requests) {
          const res = await ctx.ts.api(method.toUpperCase(), url, raw === undefined ? {} : { raw });
          const stable = typeof res.body.code === 'string' && /^[a-z][a-z0-9_]*$/.test(String(res.body.code)) && typeof res.body.requestId === 'string';
          if (res.status >= 500 || (res.status >= 400 && !stable)) failures.push(`${method.toUpperCase()} ${url.slice(0, 120)} ${raw ?? ''} → ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
        }
      }
    }
    expect(failures).toEqual([]);
    expect((await ctx.ts.api('GET', '/healthz')).status).toBe(200);
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
