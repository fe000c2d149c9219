import { describe, expect, it } from 'vitest';
import { usePeopleServer } from './helpers/fixtures.js';

const ctx = usePeopleServer();

interface Group {
  operation?: string;
  caller?: string;
  status?: number;
  code?: string;
  requests: number;
  records: number;
  bytesIn: number;
  bytesOut: number;
  latencyMs: { mean: number; p50: { low: number; high: number }; p99: { low: number; high: number } };
  series: Array<{ start: string; requests: number }>;
}

describe('API usage telemetry', () => {
  it('counts a known mix of requests per operation, caller, status and code, with latency percentiles', async () => {
    const api = ctx.ts.api;
    const measured: number[] = [];
    const timed = async (fn: () => Promise<unknown>): Promise<void> => {
      const t = performance.now();
      await fn();
      measured.push(performance.now() - t);
    };
    for (let i = 0; i < 7; i++) await timed(() => api('POST', `/api/instances/default/collection/${ctx.ds.crm}?caller=app-a`, { body: { record: { crmId: `U-${i}` } } }));
    for (let i = 0; i < 3; i++) await timed(() => api('POST', `/api/instances/default/collection/batch?caller=app-b`, { body: { messages: [{ datasetId: ctx.ds.crm, record: { crmId: `UB-${i}` } }, { datasetId: ctx.ds.crm, record: { crmId: `UC-${i}` } }] } }));
    for (let i = 0; i < 2; i++) await api('POST', `/api/instances/default/collection/nope?caller=app-a`, { body: { record: { crmId: 'x' } } });
    await api('POST', `/api/instances/default/collection/${ctx.ds.crm}?caller=app-a`, { raw: '{"record":' });
    await api('GET', '/api/instances/default/profiles?identity=crmId:U-1');

    const usage = await api<{ groups: Group[] }>('GET', '/api/instances/default/manage/usage?groupBy=operation,caller,status,code&interval=minute');
    expect(usage.status).toBe(200);
    const find = (operation: string, caller: string, status: number, code = '') =>
      usage.body.groups.find((g) => g.operation === operation && g.caller === caller && g.status === status && g.code === code);
    const single = find('POST /api/instances/:instanceId/collection/:datasetId', 'app-a', 200)!;
    expect(single.requests).toBe(7);
    expect(single.records).toBe(7);
    expect(single.bytesIn).toBeGreaterThan(7 * 20);
    expect(single.bytesOut).toBeGreaterThan(0);
    const batch = find('POST /api/instances/:instanceId/collection/batch', 'app-b', 207)!;
    expect(batch.requests).toBe(3);
    expect(batch.records).toBe(6);
    expect(find('POST /api/instances/:instanceId/collection/:datasetId', 'app-a', 404, 'dataset_not_found')!.requests).toBe(2);
    expect(find('POST /api/instances/:instanceId/collection/:datasetId', 'app-a', 400, 'malformed_json')!.requests).toBe(1);
    expect(find('GET /api/instances/:instanceId/profiles', '', 200)!.requests).toBe(1);
    // The server's latency of a request is within what the client measured around it.
    measured.sort((a, b) => a - b);
    for (const g of [single, batch]) {
      expect(g.latencyMs.mean).toBeGreaterThan(0);
      expect(g.latencyMs.p50.low).toBeLessThanOrEqual(measured[measured.length - 1]!);
      expect(g.latencyMs.p99.low).toBeLessThanOrEqual(measured[measured.length - 1]!);
      expect(g.latencyMs.p50.high).toBeGreaterThan(g.latencyMs.p50.low);
      expect(g.series.reduce((a, s) => a + s.requests, 0)).toBe(g.requests);
    }

    const byCaller = await api<{ groups: Group[] }>('GET', '/api/instances/default/manage/usage?groupBy=caller&interval=day');
    expect(byCaller.body.groups.find((g) => g.caller === 'app-b')!.requests).toBe(3);
    expect(byCaller.body.groups.find((g) => g.caller === 'app-a')!.requests).toBe(10);
    // Flushed again into the rows already stored: the counts and the latency histograms add up.
    for (let i = 7; i < 9; i++) await api('POST', `/api/instances/default/collection/${ctx.ds.crm}?caller=app-a`, { body: { record: { crmId: `U-${i}` } } });
    const again = await api<{ groups: Group[] }>('GET', '/api/instances/default/manage/usage?groupBy=operation,caller,status,code&interval=minute');
    const single2 = again.body.groups.find((g) => g.operation === 'POST /api/instances/:instanceId/collection/:datasetId' && g.caller === 'app-a' && g.status === 200)!;
    expect(single2.requests).toBe(9);
    expect(single2.records).toBe(9);
    expect(single2.bytesIn).toBeGreaterThan(single.bytesIn);
    expect(single2.series.reduce((a, s) => a + s.requests, 0)).toBe(9);
    expect(again.body.groups.find((g) => g.operation === 'POST /api/instances/:instanceId/collection/batch' && g.caller === 'app-b')!.requests).toBe(3);
    const bad = await api('GET', '/api/instances/default/manage/usage?groupBy=colour');
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('invalid_group_by');
  });
});
