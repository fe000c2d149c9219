import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/domain/clock.js';
import { startServer, type RunningServer } from '../src/server.js';
import { dropSchema, freshSchemaName, PG_URL, postgresForTests } from './helpers/postgres.js';
import { ADMIN_KEY, makeApi, type Api } from './helpers/server.js';
import { batchResumeKeepsNewerRecords, batchSurvivesKill } from './helpers/batch-crash.js';
import { batchEnd } from './helpers/fixtures.js';
import { processJanitor, spawnServer } from './helpers/process.js';
import { tcpProxy } from './helpers/tcp-proxy.js';

const withPostgres = await postgresForTests();
const cleanups: Array<() => Promise<void>> = [];
const janitor = processJanitor();
afterEach(janitor.cleanup);
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** A node: a whole Tessera server on the shared PostgreSQL schema (reached at `url`), with its own lake dir. */
async function node(schema: string, clock: ManualClock, rateLimits = false, url = PG_URL): Promise<RunningServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-node-'));
  const server = await startServer(
    { port: 0, host: '127.0.0.1', dataDir, bootstrapAdminKey: ADMIN_KEY, logLevel: 'warn', usageTelemetry: true, rateLimits, backend: 'postgres', postgres: { url, schema } },
    { logger: false, clock },
  );
  cleanups.push(async () => {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return server;
}

/** A crmId-keyed Person schema and its dataset `crm`, made through `api`; the dataset's id. */
async function crmDataset(api: Api): Promise<string> {
  const base = '/api/instances/default/manage';
  const schema = await api('POST', `${base}/schemas`, { body: { name: 'Person', class: 'profile', jsonSchema: { type: 'object', properties: { crmId: { type: 'string' } } }, identities: [{ path: 'crmId', namespace: 'crmId', primary: true }] } });
  return String((await api('POST', `${base}/datasets`, { body: { name: 'crm', schemaId: String(schema.body.id) } })).body.id);
}

/** Two API nodes on a fresh schema (dropped afterwards), at one standing clock, with the crm dataset. */
async function twoNodes(rateLimits = false): Promise<{ schema: string; clock: ManualClock; one: Api; two: Api; crm: string }> {
  const schema = await freshSchemaName();
  cleanups.push(() => dropSchema(schema));
  const clock = new ManualClock(Date.UTC(2026, 6, 1, 2, 0, 0));
  const one = makeApi((await node(schema, clock, rateLimits)).url, ADMIN_KEY);
  const two = makeApi((await node(schema, clock, rateLimits)).url, ADMIN_KEY);
  return { schema, clock, one, two, crm: await crmDataset(one) };
}

describe.skipIf(!withPostgres)('several nodes on PostgreSQL', () => {
  it('a scheduled refresh fires on every node, and runs once across them', async () => {
    const schema = await freshSchemaName();
    cleanups.push(() => dropSchema(schema));
    const clock = new ManualClock(Date.UTC(2026, 6, 1, 2, 0, 0));
    const one = await node(schema, clock);
    const api = makeApi(one.url, ADMIN_KEY);
    const base = '/api/instances/default/manage';
    const schemaRes = await api('POST', `${base}/schemas`, {
      body: { name: 'Person', class: 'profile', jsonSchema: { type: 'object', properties: { crmId: { type: 'string' }, name: { type: 'string' } } }, identities: [{ path: 'crmId', namespace: 'crmId', primary: true }] },
    });
    await api('POST', `${base}/datasets`, { body: { name: 'crm', schemaId: String(schemaRes.body.id) } });
    const put = await api('PUT', `${base}/unification`, {
      body: { mode: 'rules', datasets: [{ dataset: 'crm', dedupRules: [{ conditions: [{ field: 'name', normalizers: ['case'] }] }] }], schedule: { cron: '0 3 * * *', timezone: 'UTC' } },
    });
    expect(put.status).toBe(200);
    // The second node starts after the settings exist, so both have the schedule.
    const two = await node(schema, clock);
    const ingest = await makeApi(two.url, ADMIN_KEY)('POST', '/api/instances/default/collection/batch', {
      body: { messages: [{ datasetId: 'crm', record: { crmId: 'A', name: 'Ann Lee' } }, { datasetId: 'crm', record: { crmId: 'B', name: 'ann lee' } }] },
    });
    expect(ingest.status).toBe(207);
    clock.set(Date.UTC(2026, 6, 1, 3, 0, 0));
    await Promise.all([one.tessera.refresh.tick(), two.tessera.refresh.tick()]);
    await Promise.all([one.tessera.refresh.idle(), two.tessera.refresh.idle()]);
    // And once more each, as a late tick would: the slot has run.
    await Promise.all([one.tessera.refresh.tick(), two.tessera.refresh.tick()]);
    await Promise.all([one.tessera.refresh.idle(), two.tessera.refresh.idle()]);
    const runs = (await api('GET', `${base}/refresh/runs`)).body['runs'] as unknown as Array<{ id: string; trigger: string; status: string }>;
    expect(runs.map((r) => [r.id, r.trigger, r.status])).toEqual([[`schedule-${Date.UTC(2026, 6, 1, 3, 0, 0)}`, 'schedule', 'success']]);
    // Both nodes read the one published result.
    const a = await api('GET', '/api/instances/default/profiles?identity=crmId:A');
    const b = await makeApi(two.url, ADMIN_KEY)('GET', '/api/instances/default/profiles?identity=crmId:B');
    expect(a.body.customerId).toBe(b.body.customerId);
  });

  it('kill -9 of the node processing a completed batch: started again, it takes the batch up from its files (its advisory lock died with it)', async () => {
    const schema = await freshSchemaName();
    cleanups.push(() => dropSchema(schema));
    const dataDir = janitor.tempDir();
    const args = ['--backend', 'postgres', '--postgres-url', PG_URL, '--postgres-schema', schema, '--data-dir', dataDir];
    await batchSurvivesKill(async () => janitor.track(await spawnServer(args, { TESSERA_BOOTSTRAP_ADMIN_KEY: ADMIN_KEY })), 20_000);
  });

  it('kill -9 of the node during a batch: started again, it does not apply the rows its committed transactions applied, so a later record of the same person stays', async () => {
    const schema = await freshSchemaName();
    cleanups.push(() => dropSchema(schema));
    const dataDir = janitor.tempDir();
    const args = ['--backend', 'postgres', '--postgres-url', PG_URL, '--postgres-schema', schema, '--data-dir', dataDir];
    await batchResumeKeepsNewerRecords(async () => janitor.track(await spawnServer(args, { TESSERA_BOOTSTRAP_ADMIN_KEY: ADMIN_KEY })));
  });

  it('a node that starts leaves alone a refresh run that another node is running, and fails one that a node which died left running', async () => {
    const schema = await freshSchemaName();
    cleanups.push(() => dropSchema(schema));
    const clock = new ManualClock(Date.UTC(2026, 6, 1, 2, 0, 0));
    await node(schema, clock);
    // A run in progress on a node elsewhere: its row, and the instance's refresh lock held by that node's session.
    const elsewhere = new pg.Client({ connectionString: PG_URL });
    await elsewhere.connect();
    await elsewhere.query(`INSERT INTO ${schema}.refresh_runs (instance_id, id, status, trigger, started_at, stages, counts) VALUES ('default', 'run-elsewhere', 'running', 'manual', $1, '[]', '{}')`, [clock.now()]);
    await elsewhere.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [`${schema}/refresh:default`]);
    const runOf = async (url: string) => (await makeApi(url, ADMIN_KEY)('GET', '/api/instances/default/manage/refresh/runs/run-elsewhere')).body;
    const two = await node(schema, clock);
    expect(await runOf(two.url)).toMatchObject({ id: 'run-elsewhere', status: 'running' });
    // That node dies (its session ends, and its lock with it): the next node to look ends the run.
    await elsewhere.end();
    const three = await node(schema, clock);
    expect(await runOf(three.url)).toMatchObject({ id: 'run-elsewhere', status: 'failed', message: 'the server stopped during the run; the published result is the previous one' });
  });

  it('a batch whose files went to another node (data dirs of their own) is refused at completion with what to do, and completes through the node that has them', async () => {
    const { one, two, crm } = await twoNodes();
    const base = '/api/instances/default';
    const id = String((await one('POST', `${base}/batches`, { body: { datasetId: crm, format: 'csv' } })).body.id);
    expect((await one('PUT', `${base}/batches/${id}/files/a.csv`, { raw: 'crmId\nF-1\nF-2\n', headers: { 'content-type': 'text/csv' } })).status).toBe(200);
    const elsewhere = await two('POST', `${base}/batches/${id}/complete`);
    expect(elsewhere.status).toBe(409);
    expect(elsewhere.body.code).toBe('batch_files_elsewhere');
    expect((await two('GET', `${base}/batches/${id}`)).body.status).toBe('loading');
    expect((await one('POST', `${base}/batches/${id}/complete`)).status).toBe(202);
    expect(await batchEnd(one, id)).toMatchObject({ status: 'success', counts: { rowsRead: 2, rowsApplied: 2, rowsFailed: 0 } });
  });

  it('a batch left processing by a node that never comes back (its files in that node\'s own data dir) is failed by another node after the grace period, saying what to do', async () => {
    const schema = await freshSchemaName();
    cleanups.push(() => dropSchema(schema));
    const clock = new ManualClock(Date.UTC(2026, 6, 1, 2, 0, 0));
    const one = makeApi((await node(schema, clock)).url, ADMIN_KEY);
    const crm = await crmDataset(one);
    const base = '/api/instances/default';
    const id = String((await one('POST', `${base}/batches`, { body: { datasetId: crm, format: 'csv' } })).body.id);
    expect((await one('PUT', `${base}/batches/${id}/files/a.csv`, { raw: 'crmId\nO-1\n', headers: { 'content-type': 'text/csv' } })).status).toBe(200);
    // As node one leaves it when it dies mid-import: completed, processing, and its lock held by that node's session until then.
    const elsewhere = new pg.Client({ connectionString: PG_URL });
    await elsewhere.connect();
    await elsewhere.query(`UPDATE ${schema}.batches SET status = 'processing', completed_at = $2 WHERE id = $1`, [id, clock.now()]);
    await elsewhere.query('SELECT pg_advisory_lock(hashtextextended($1, 0))', [`${schema}/batch/default/${id}`]);
    const two = await node(schema, clock);
    const statusOf = async () => (await makeApi(two.url, ADMIN_KEY)('GET', `${base}/batches/${id}`)).body;
    const look = async (minutes: number): Promise<void> => {
      clock.set(Date.UTC(2026, 6, 1, 2, 0, 0) + minutes * 60_000);
      expect(await two.tessera.batches.resumeInterrupted()).toBe(0);
    };
    // Held by a live node, however long: left alone.
    await look(0);
    await look(30);
    expect(await statusOf()).toMatchObject({ status: 'processing' });
    // The node dies (its session ends, and its lock with it); node two first sees it so at 31 minutes.
    await elsewhere.end();
    await look(31);
    await look(40);
    expect(await statusOf()).toMatchObject({ status: 'processing' });
    await look(41);
    expect(await statusOf()).toEqual(
      expect.objectContaining({
        status: 'failed',
        message: "the node that holds this batch's files stopped before it finished and no node has taken it up for 10 minutes; rows it applied stay applied; upload the files again in a new batch",
      }),
    );
  });

  it('while PostgreSQL cannot be reached, requests are answered 503 store_unavailable with Retry-After, and served again once it is back', async () => {
    const schema = await freshSchemaName();
    cleanups.push(() => dropSchema(schema));
    const target = new URL(PG_URL);
    const proxy = await tcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    cleanups.push(() => proxy.close());
    const viaProxy = new URL(PG_URL);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    const server = await node(schema, new ManualClock(Date.UTC(2026, 6, 1, 2, 0, 0)), true, viaProxy.toString());
    const api = makeApi(server.url, ADMIN_KEY);
    const base = '/api/instances/default';
    await crmDataset(api);
    expect((await api('POST', `${base}/collection/crm`, { body: { record: { crmId: 'P-1' } } })).status).toBe(200);

    await proxy.down();
    for (const res of [
      await api('POST', `${base}/collection/crm`, { body: { record: { crmId: 'P-2' } } }),
      await api('GET', `${base}/profiles?identity=crmId:P-1`),
      await api('POST', `${base}/batches`, { body: { datasetId: 'crm', format: 'csv' } }),
    ]) {
      expect(res.status, JSON.stringify(res.body)).toBe(503);
      expect(res.body.code).toBe('store_unavailable');
      expect(res.headers.get('retry-after')).toBe('1');
    }
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
    // Usage telemetry cannot be written meanwhile: the flush fails, and what it held is kept.
    expect((await api('GET', `${base}/manage/usage?groupBy=operation,status`)).status).toBe(503);

    await proxy.up();
    expect((await api('POST', `${base}/collection/crm`, { body: { record: { crmId: 'P-3' } } })).status).toBe(200);
    expect((await api('GET', `${base}/profiles?identity=crmId:P-1`)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    const usage = await api<{ groups: Array<{ operation: string; status: number; requests: number }> }>('GET', `${base}/manage/usage?groupBy=operation,status`);
    expect(usage.status).toBe(200);
    const requests = (operation: string, status: number): number | undefined => usage.body.groups.find((g) => g.operation === operation && g.status === status)?.requests;
    expect(requests('POST /api/instances/:instanceId/collection/:datasetId', 200)).toBe(2);
    expect(requests('POST /api/instances/:instanceId/collection/:datasetId', 503)).toBe(1);
    expect(requests('GET /api/instances/:instanceId/profiles', 503)).toBe(1);
    expect(requests('GET /api/instances/:instanceId/profiles', 200)).toBe(1);
    expect(requests('GET /api/instances/:instanceId/manage/usage', 503)).toBe(1);
  });

  it('a catalog change made through one node holds on the other within a second', async () => {
    const { one, two } = await twoNodes();
    const base = '/api/instances/default/manage';
    const send = (i: number) => two('POST', '/api/instances/default/collection/crm?syncValidation=true', { body: { record: { crmId: `W${i}`, identityMap: { loyaltyId: [{ id: `L${i}` }] } } } });
    // Node two has loaded the catalog: loyaltyId is no namespace of it.
    const before = await send(0);
    expect(before.status).toBe(400);
    expect(before.body.code).toBe('unknown_namespace');
    expect((await one('POST', `${base}/namespaces`, { body: { code: 'loyaltyId' } })).status).toBe(201);
    const changed = performance.now();
    let i = 1;
    while ((await send(i)).status !== 200) {
      // Reloaded by age alone, it would take up to 5 s.
      expect(performance.now() - changed).toBeLessThan(2_500);
      await new Promise((r) => setTimeout(r, 50));
      i++;
    }
  });

  /** Two API nodes with rate limits on, a standing clock, a crm dataset, and the instance's requests limit set. */
  async function twoLimitedNodes(requestsPerSecond: number) {
    const { schema, clock, one: apiOne, two: apiTwo } = await twoNodes(true);
    const base = '/api/instances/default/manage';
    expect((await apiOne('PATCH', `${base}/settings`, { body: { rateLimits: { requestsPerSecond, messagesPerSecond: 1000, syncValidationPerMinute: 60 } } })).status).toBe(200);
    const send = (api: typeof apiOne, i: number) => api('POST', '/api/instances/default/collection/crm', { body: { record: { crmId: `R${i}` } } });
    return { schema, clock, apiOne, apiTwo, send };
  }

  it('two API nodes share the instance\'s rate limit', async () => {
    const { clock, apiOne, apiTwo, send } = await twoLimitedNodes(5);
    // The clock stands still: five requests' worth of tokens for both nodes together, then none.
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => send(i % 2 === 0 ? apiOne : apiTwo, i)));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(5);
    const limited = answers.filter((a) => a.status === 429);
    expect(limited).toHaveLength(3);
    for (const a of limited) {
      expect(a.body.code).toBe('rate_limited');
      expect(a.headers.get('retry-after')).toBe('1');
    }
    // A second later the bucket has refilled, for both nodes.
    clock.set(Date.UTC(2026, 6, 1, 2, 0, 1));
    expect((await send(apiTwo, 100)).status).toBe(200);
    expect((await send(apiOne, 101)).status).toBe(200);
  });

  it('a node spends a lease of a tenth of a second\'s tokens without asking PostgreSQL, and the nodes together still pass exactly what the bucket holds', async () => {
    const { schema, clock, apiOne, apiTwo, send } = await twoLimitedNodes(100);
    const db = new pg.Client({ connectionString: PG_URL });
    await db.connect();
    cleanups.push(() => db.end());
    const requestTokensInPostgres = async (): Promise<number> => {
      const row = await db.query<{ state: string }>(`SELECT state FROM ${schema}.rate_buckets WHERE instance_id = 'default'`);
      return (JSON.parse(row.rows[0]!.state) as { requestsPerSecond: { tokens: number } }).requestsPerSecond.tokens;
    };
    // The first request takes its token and a lease of 10 (a tenth of a second at 100/s) ...
    expect((await send(apiOne, 0)).status).toBe(200);
    expect(await requestTokensInPostgres()).toBe(89);
    // ... which pays for the node's next ten requests: the shared bucket does not move.
    for (let i = 1; i <= 10; i++) expect((await send(apiOne, i)).status).toBe(200);
    expect(await requestTokensInPostgres()).toBe(89);
    expect((await send(apiOne, 11)).status).toBe(200);
    expect(await requestTokensInPostgres()).toBe(78);
    // The clock stands still: across both nodes, exactly the bucket's 100 tokens pass.
    let passed = 12;
    let limited = 0;
    for (let i = 12; i < 140; i++) {
      const status = (await send(i % 2 === 0 ? apiOne : apiTwo, i)).status;
      if (status === 200) passed++;
      else if (status === 429) limited++;
    }
    expect(passed).toBe(100);
    expect(limited).toBe(40);
    // Past the lease's end, the nodes ask PostgreSQL again; a second later the bucket is full again.
    clock.set(Date.UTC(2026, 6, 1, 2, 0, 1));
    expect((await send(apiTwo, 200)).status).toBe(200);
    expect((await send(apiOne, 201)).status).toBe(200);
  });
});
