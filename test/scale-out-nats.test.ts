import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { deleteStream, NATS_URL, natsForTests } from './helpers/nats.js';
import { dropSchema, freshSchemaName, PG_URL, postgresForTests } from './helpers/postgres.js';
import { processJanitor, runCli, spawnServer, spawnWorker, type ServerProcess } from './helpers/process.js';
import { makeApi } from './helpers/server.js';
import { tcpProxy } from './helpers/tcp-proxy.js';

/**
 * The scale-out mode as processes: API nodes (`tessera serve --nats-url …`) and workers
 * (`tessera worker`) on PostgreSQL and NATS JetStream, killed and restarted as in production.
 */
const ready = (await postgresForTests()) && (await natsForTests());
const KEY = 'scale-admin-key-0123456789';
const PARTITIONS = 4;
const janitor = processJanitor();
const teardown: Array<() => Promise<void>> = [];
afterEach(() => janitor.cleanup());
afterAll(async () => {
  for (const t of teardown.splice(0)) await t();
});

interface Cluster {
  schema: string;
  stream: string;
  env: Record<string, string>;
  lakeDir: string;
  api(extra?: string[]): Promise<ServerProcess>;
  worker(): Promise<ServerProcess>;
  query<T extends pg.QueryResultRow>(sql: string): Promise<T[]>;
}

async function cluster(streamLimit?: number): Promise<Cluster> {
  const schema = await freshSchemaName();
  const stream = `T_${schema.toUpperCase()}`;
  const env = {
    TESSERA_BOOTSTRAP_ADMIN_KEY: KEY,
    TESSERA_POSTGRES_URL: PG_URL,
    TESSERA_POSTGRES_SCHEMA: schema,
    TESSERA_NATS_URL: NATS_URL,
    TESSERA_NATS_STREAM: stream,
    TESSERA_PARTITIONS: String(PARTITIONS),
    ...(streamLimit ? { TESSERA_NATS_MAX_MESSAGES: String(streamLimit) } : {}),
  };
  const shared = janitor.tempDir();
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`SET search_path TO ${schema}`);
  teardown.push(async () => {
    await client.end();
    await deleteStream(stream);
    await dropSchema(schema);
  });
  return {
    schema,
    stream,
    env,
    lakeDir: join(shared, 'lake'),
    api: async (extra = []) => janitor.track(await spawnServer(['--backend', 'postgres', '--data-dir', janitor.tempDir(), ...extra], env)),
    // The workers share one data dir: the lake is written there by whichever holds the lake writer.
    worker: async () => janitor.track(await spawnWorker(['--data-dir', shared], env)),
    query: async <T extends pg.QueryResultRow>(sql: string) => (await client.query<T>(sql)).rows,
  };
}

const base = '/api/instances/default';

async function setUp(url: string): Promise<void> {
  const api = makeApi(url, KEY);
  // Activities: each has an id of its own (profile records are keyed by their primary identity), so every record applied can be counted.
  const schema = await api('POST', `${base}/manage/schemas`, {
    body: { name: 'Visit', class: 'activity', idField: 'id', timestampField: 'timestamp', jsonSchema: { type: 'object', properties: { id: { type: 'string' }, timestamp: { type: 'string' } } } },
  });
  expect(schema.status).toBe(201);
  expect((await api('POST', `${base}/manage/datasets`, { body: { name: 'visits', schemaId: String(schema.body.id) } })).status).toBe(201);
}

/** An activity: its own id and the identities given as `namespace:value`. */
const record = (id: string, identities: string[]): { datasetId: string; record: Record<string, unknown> } => {
  const identityMap: Record<string, Array<{ id: string }>> = {};
  for (const i of identities) {
    const [ns, value] = i.split(':') as [string, string];
    (identityMap[ns] ??= []).push({ id: value });
  }
  return { datasetId: 'visits', record: { id, timestamp: '2026-11-01T10:00:00Z', identityMap } };
};

/** Sends batches to the nodes given (round robin), `concurrency` at a time; the ids of the records acknowledged. */
async function send(urls: () => string[], batches: Array<Array<ReturnType<typeof record>>>, concurrency: number): Promise<{ acked: string[]; failed: number }> {
  const acked: string[] = [];
  let failed = 0;
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < batches.length) {
      const i = next++;
      const nodes = urls();
      const batch = batches[i]!;
      try {
        const res = await fetch(`${nodes[i % nodes.length]}${base}/collection/batch`, {
          method: 'POST',
          headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ messages: batch }),
        });
        const body = (await res.json()) as { results?: Array<{ status: number }> };
        if (res.status === 207 && body.results?.every((r) => r.status === 200)) acked.push(...batch.map((m) => String(m.record['id'])));
        else failed += batch.length;
      } catch {
        failed += batch.length; // the node died mid-request: not acknowledged
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return { acked, failed };
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Connected components of identities, computed offline from what was sent. */
function components(records: Array<ReturnType<typeof record>>): string[][] {
  const parent = new Map<string, string>();
  const find = (x: string): string => {
    let root = x;
    while (parent.get(root) !== root) root = parent.get(root)!;
    parent.set(x, root);
    return root;
  };
  for (const r of records) {
    const ids = Object.entries(r.record['identityMap'] as Record<string, Array<{ id: string }>>).flatMap(([ns, list]) => list.map((i) => `${ns}:${i.id}`));
    for (const id of ids) if (!parent.has(id)) parent.set(id, id);
    for (const id of ids.slice(1)) parent.set(find(id), find(ids[0]!));
  }
  const groups = new Map<string, string[]>();
  for (const id of parent.keys()) {
    const root = find(id);
    groups.set(root, [...(groups.get(root) ?? []), id]);
  }
  return [...groups.values()].map((g) => g.sort()).sort((a, b) => a[0]!.localeCompare(b[0]!));
}

async function clusters(c: Cluster): Promise<string[][]> {
  const rows = await c.query<{ customer_id: string; id: string }>("SELECT customer_id, namespace || ':' || value AS id FROM identities WHERE instance_id = 'default'");
  const groups = new Map<string, string[]>();
  for (const r of rows) groups.set(r.customer_id, [...(groups.get(r.customer_id) ?? []), r.id]);
  return [...groups.values()].map((g) => g.sort()).sort((a, b) => a[0]!.localeCompare(b[0]!));
}

const appliedIds = async (c: Cluster): Promise<string[]> =>
  (await c.query<{ activity_id: string }>("SELECT activity_id FROM activities WHERE instance_id = 'default'")).map((r) => r.activity_id).sort();

function lakeRecordIds(dir: string): string[] {
  const ids: string[] = [];
  const walk = (d: string): void => {
    let names: string[] = [];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.endsWith('.ndjson')) for (const line of readFileSync(p, 'utf8').split('\n')) if (line) ids.push(String((JSON.parse(line) as { record: { id: string } }).record.id));
    }
  };
  walk(dir);
  return ids.sort();
}

const workerHealth = async (w: ServerProcess): Promise<{ outcomes: Record<string, number>; partitions: number[]; retriedTransactions: number }> =>
  (await (await fetch(`${w.url}/health`)).json()) as { outcomes: Record<string, number>; partitions: number[]; retriedTransactions: number };

/**
 * A merge-heavy workload: each person is seen under an email, a cookie and a device, first apart
 * and then linked by later records, and every tenth person is also linked to the next one. The
 * records of one person have different primary identities, so they land in different
 * partitions and their merges span partitions.
 */
function mergeHeavy(people: number, tag: string): Array<ReturnType<typeof record>> {
  const out: Array<ReturnType<typeof record>> = [];
  let n = 0;
  const id = (): string => `${tag}-${n++}`;
  for (let p = 0; p < people; p++) {
    const e = `email:p${p}@ex.com`;
    const c = `cookie:c${p}`;
    const d = `deviceId:d${p}`;
    out.push(record(id(), [e]), record(id(), [c]), record(id(), [d]), record(id(), [e, c]), record(id(), [c, d]));
    if (p % 10 === 0 && p + 1 < people) out.push(record(id(), [d, `email:p${p + 1}@ex.com`]));
  }
  // A fixed shuffle, so that the links arrive before, between and after what they link.
  let seed = 42;
  for (let i = out.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const j = seed % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const chunk = <T,>(list: T[], size: number): T[][] => Array.from({ length: Math.ceil(list.length / size) }, (_, i) => list.slice(i * size, (i + 1) * size));

describe.skipIf(!ready)('scale-out on PostgreSQL and NATS JetStream (processes)', () => {
  it('2 API nodes and 2 workers: one person through different nodes at once ends as one profile per connected component, each record applied once', async () => {
    const c = await cluster();
    const [api1, api2] = [await c.api(), await c.api()];
    const [w1, w2] = [await c.worker(), await c.worker()];
    await setUp(api1.url);
    // Both workers hold partitions before the records arrive, so that they apply them side by side.
    await until('the partitions spread over both workers', async () => (await workerHealth(w1)).partitions.length > 0 && (await workerHealth(w2)).partitions.length > 0);
    const records = mergeHeavy(120, 'm');
    const { acked, failed } = await send(() => [api1.url, api2.url], chunk(records, 15), 6);
    expect(failed).toBe(0);
    expect(acked).toHaveLength(records.length);
    await until('every acknowledged record applied', async () => (await appliedIds(c)).length >= acked.length);
    expect(await appliedIds(c)).toEqual([...acked].sort());
    expect(await clusters(c)).toEqual(components(records));
    // The partitions are spread over both workers, and no record was applied twice.
    const [h1, h2] = [await workerHealth(w1), await workerHealth(w2)];
    expect(h1.partitions.length + h2.partitions.length).toBe(PARTITIONS);
    expect(h1.partitions.length).toBeGreaterThan(0);
    expect(h2.partitions.length).toBeGreaterThan(0);
    expect((h1.outcomes['applied'] ?? 0) + (h2.outcomes['applied'] ?? 0)).toBe(acked.length);
    expect({ ...h1.outcomes, ...h2.outcomes, applied: 0 }).toEqual({ applied: 0 });
    // The API nodes count what they put in the log for the workers.
    const queued = async (api: ServerProcess): Promise<number> => Number(/tessera_records_committed_total\{outcome="queued"\} (\d+)/.exec(await (await fetch(`${api.url}/metrics`)).text())?.[1] ?? 0);
    expect((await queued(api1)) + (await queued(api2))).toBe(acked.length);
    // Both workers say the cluster has caught up with the log (every partition applied, the lake written).
    await until('the lake writer past every message', async () => ((await (await fetch(`${w1.url}/health`)).json()) as { caughtUp: boolean }).caughtUp);
    expect(((await (await fetch(`${w2.url}/health`)).json()) as { caughtUp: boolean }).caughtUp).toBe(true);
    process.stderr.write(`scale-out: transactions run again after a race: ${h1.retriedTransactions + h2.retriedTransactions}\n`);
    // The lake writer kept every record, once.
    await until('the lake holds every record', async () => lakeRecordIds(c.lakeDir).length >= acked.length);
    expect(lakeRecordIds(c.lakeDir)).toEqual([...acked].sort());
    // Rebuilt from the shared lake with everything stopped: the same records, the same clusters
    // (which profile id survives a merge may differ: the partitions were applied side by side).
    for (const p of [api1, api2, w1, w2]) {
      p.child.kill('SIGTERM');
      // A clean stop: each finishes what it holds and exits 0 (a worker once its thread has closed the log worker).
      expect(await p.exited, p.output()).toBe(0);
    }
    const rebuilt = runCli(['rebuild', '--backend', 'postgres', '--data-dir', join(c.lakeDir, '..')], c.env);
    expect(rebuilt.status, rebuilt.stderr).toBe(0);
    expect(rebuilt.stdout).toContain(`rebuilt all instances from the lake: ${acked.length} records applied`);
    expect(await appliedIds(c)).toEqual([...acked].sort());
    expect(await clusters(c)).toEqual(components(records));
  }, 300_000);

  it('kill -9 of a worker and of an API node mid-stream: nothing acknowledged is lost, nothing is applied twice, ingestion resumes by itself', async () => {
    const c = await cluster();
    let api = await c.api();
    let w1 = await c.worker();
    const w2 = await c.worker();
    await setUp(api.url);
    const records = mergeHeavy(150, 'k');
    const batches = chunk(records, 10);
    const third = Math.floor(batches.length / 3);
    const nodes = (): string[] => [api.url];
    // A worker dies mid-stream and comes back.
    const firstPart = send(nodes, batches.slice(0, third), 3);
    await until('the workers applying', async () => (await appliedIds(c)).length > 20);
    w1.child.kill('SIGKILL');
    await w1.exited;
    const first = await firstPart;
    w1 = await c.worker();
    // The API node dies mid-stream (its in-flight requests are not acknowledged) and comes back.
    const secondPart = send(nodes, batches.slice(third, 2 * third), 3);
    await new Promise((r) => setTimeout(r, 300));
    api.child.kill('SIGKILL');
    await api.exited;
    const second = await secondPart;
    api = await c.api();
    const third_ = await send(nodes, batches.slice(2 * third), 3);
    const acked = [...first.acked, ...second.acked, ...third_.acked];
    expect(first.failed + third_.failed).toBe(0);
    await until('every acknowledged record applied', async () => {
      const applied = new Set(await appliedIds(c));
      return acked.every((id) => applied.has(id));
    });
    // Nothing acknowledged is lost; what was not acknowledged may or may not be there, never twice.
    const applied = await appliedIds(c);
    expect(new Set(applied).size).toBe(applied.length);
    for (const id of acked) expect(applied).toContain(id);
    expect(applied.length).toBeLessThanOrEqual(records.length);
    // The survivors re-read what the dead worker had in hand and skipped what it had applied: none applied twice.
    for (const w of [w1, w2]) {
      const h = await workerHealth(w);
      expect(h.outcomes['unchanged'] ?? 0).toBe(0);
      expect(h.outcomes['duplicate'] ?? 0).toBe(0);
    }
    // The identity graph is the components of what was applied.
    const appliedSet = new Set(applied);
    expect(await clusters(c)).toEqual(components(records.filter((r) => appliedSet.has(String(r.record['id'])))));
  }, 300_000);

  it('backpressure: with the workers stopped the API acknowledges up to the stream limit, then answers 503 with Retry-After, and drains when a worker returns', async () => {
    const limit = 12;
    const c = await cluster(limit);
    const api = await c.api();
    await setUp(api.url);
    const post = (i: number): Promise<Response> =>
      fetch(`${api.url}${base}/collection/visits`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(record(`b-${i}`, [`email:b${i}@ex.com`])),
      });
    const acked: string[] = [];
    let refused: Response | undefined;
    for (let i = 0; i < limit + 5 && !refused; i++) {
      const res = await post(i);
      if (res.status === 200) acked.push(`b-${i}`);
      else refused = res;
    }
    // One message per request: exactly the limit was taken, the next one refused with a clear answer.
    expect(acked).toHaveLength(limit);
    expect(refused?.status).toBe(503);
    expect(refused?.headers.get('retry-after')).toBe('1');
    expect(((await refused!.json()) as { code: string }).code).toBe('log_full');
    expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
    expect(await appliedIds(c)).toEqual([]);
    // A worker comes back: the log drains and ingestion is accepted again.
    await c.worker();
    await until('the backlog applied', async () => (await appliedIds(c)).length === limit);
    await until('room in the stream again', async () => (await post(1000)).status === 200);
    acked.push('b-1000');
    await until('the new record applied', async () => (await appliedIds(c)).length === acked.length);
    expect(await appliedIds(c)).toEqual([...acked].sort());
  }, 300_000);

  it('a bound on apply lag: the API takes records while the workers are within it, holds and then refuses (503 apply_behind) when they fall behind, and takes them again once they catch up', async () => {
    const c = await cluster();
    const api = await c.api(['--max-apply-lag', '1000']);
    await setUp(api.url);
    const post = (id: string): Promise<Response> =>
      fetch(`${api.url}${base}/collection/visits`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(record(id, [`email:${id}@ex.com`])),
      });
    // Nothing unapplied yet: taken at once, though no worker runs.
    expect((await post('l-0')).status).toBe(200);
    // No worker, and l-0 is soon older than the bound: the next record waits twice the bound, then is refused.
    await new Promise((r) => setTimeout(r, 1100));
    const started = performance.now();
    const refused = await post('l-1');
    expect(refused.status).toBe(503);
    expect(performance.now() - started).toBeGreaterThanOrEqual(1900);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as { code: string }).code).toBe('apply_behind');
    const metrics = await (await fetch(`${api.url}/metrics`)).text();
    expect(Number(/^tessera_apply_lag_seconds (\S+)$/m.exec(metrics)?.[1])).toBeGreaterThan(1);
    // A worker comes: it applies l-0, and records are taken again, each applied.
    await c.worker();
    await until('l-0 applied', async () => (await appliedIds(c)).length === 1);
    const acked = ['l-0'];
    for (let i = 2; i < 40; i++) {
      const res = await post(`l-${i}`);
      expect(res.status).toBe(200);
      acked.push(`l-${i}`);
    }
    await until('every record applied', async () => (await appliedIds(c)).length === acked.length);
    expect(await appliedIds(c)).toEqual([...acked].sort());
  }, 300_000);

  it('readiness: while NATS cannot be reached an API node answers /readyz 503 naming the ingestion log, and 200 again once NATS is back', async () => {
    const c = await cluster();
    const [host, port] = NATS_URL.split(':') as [string, string];
    const proxy = await tcpProxy({ host, port: Number(port) });
    teardown.push(() => proxy.close());
    const api = janitor.track(await spawnServer(['--backend', 'postgres', '--data-dir', janitor.tempDir()], { ...c.env, TESSERA_NATS_URL: `127.0.0.1:${proxy.port}` }));
    await setUp(api.url);
    const readiness = async (): Promise<{ status: number; body: { status: string; reason?: string } }> => {
      const res = await fetch(`${api.url}/readyz`);
      return { status: res.status, body: (await res.json()) as { status: string; reason?: string } };
    };
    expect(await readiness()).toMatchObject({ status: 200, body: { status: 'ready' } });

    await proxy.down();
    const down = await readiness();
    expect(down.status).toBe(503);
    expect(down.body.status).toBe('unavailable');
    expect(down.body.reason).toMatch(/^the ingestion log does not answer: /);
    // Alive all the same: a liveness probe must not restart a node for its broker's outage.
    expect((await fetch(`${api.url}/healthz`)).status).toBe(200);

    await proxy.up();
    await until('ready again', async () => (await readiness()).status === 200, 30_000);
    const post = await fetch(`${api.url}${base}/collection/visits`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(record('r-1', ['email:r1@ex.com'])),
    });
    expect(post.status).toBe(200);
    await c.worker();
    await until('the record applied', async () => (await appliedIds(c)).length === 1);
    expect(await appliedIds(c)).toEqual(['r-1']);
  }, 120_000);
});
