import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/domain/clock.js';
import { startLogWorker, type LogWorker } from '../src/runtime/log-worker.js';
import { startServer, type RunningServer } from '../src/server.js';
import { ingestBatch, setupPeople } from './helpers/fixtures.js';
import { deleteStream, NATS_URL, natsForTests } from './helpers/nats.js';
import { dropSchema, freshSchemaName, PG_URL, postgresForTests } from './helpers/postgres.js';
import { processJanitor, runCli } from './helpers/process.js';
import { ADMIN_KEY, makeApi, type Api } from './helpers/server.js';
import { snapshot } from './helpers/snapshot.js';

/**
 * The scale-out lake: written by the workers' lake writer into a shared directory, kept up by it
 * (retention, Parquet compaction), and what `tessera rebuild` recomputes PostgreSQL from.
 */
const ready = (await postgresForTests()) && (await natsForTests());
const janitor = processJanitor();
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await janitor.cleanup();
});

const DAY = 86_400_000;
const base = '/api/instances/default';

const files = (dir: string): string[] => readdirSync(dir, { recursive: true }).map(String);

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!ready)('the scale-out lake (PostgreSQL + NATS JetStream)', () => {
  it('the lake writer compacts past days into Parquet and applies retention; tessera rebuild gives PostgreSQL\'s live state back from the shared lake and the log', async () => {
    const schema = await freshSchemaName();
    const stream = `T_${schema.toUpperCase()}`;
    const nats = { url: NATS_URL, stream, partitions: 4, maxMessages: 100_000, maxBytes: 1 << 30 };
    const postgres = { url: PG_URL, schema };
    const shared = janitor.tempDir();
    const lakeDir = join(shared, 'lake');
    cleanups.push(async () => {
      await deleteStream(stream);
      await dropSchema(schema);
    });
    const apiNode = async (): Promise<{ server: RunningServer; api: Api }> => {
      const server = await startServer(
        { port: 0, host: '127.0.0.1', dataDir: janitor.tempDir(), bootstrapAdminKey: ADMIN_KEY, logLevel: 'warn', usageTelemetry: false, rateLimits: false, backend: 'postgres', postgres, nats },
        { logger: false },
      );
      cleanups.push(() => server.close());
      return { server, api: makeApi(server.url, ADMIN_KEY) };
    };
    const worker = async (clock: ManualClock): Promise<LogWorker> => {
      const w = await startLogWorker({ postgres, nats, dataDir: shared, clock });
      cleanups.push(() => w.close());
      return w;
    };
    const applied = (w: LogWorker): number => Object.values(w.status().outcomes).reduce((a, b) => a + b, 0);

    const today = Date.now();
    let node = await apiNode();
    const w1 = await worker(new ManualClock(today));
    const ds = await setupPeople(node.api);
    // In phases, each applied before the next: a person's records lie in different partitions
    // (by crmId, by email), and the rebuild replays in log order, so each phase's order is fixed.
    const web = Array.from({ length: 40 }, (_, i) => ({ datasetId: ds.web, record: { personalEmail: { address: `p${i}@example.com` }, loyalty: { points: i } } }));
    const events = Array.from({ length: 10 }, (_, i) => ({ datasetId: ds.events, record: { _id: `e${i}`, timestamp: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(), identityMap: { email: [{ id: `p${i}@example.com` }] } } }));
    const phase1 = [...web, ...events];
    expect((await ingestBatch(node.api, phase1)).status).toBe(207);
    await until('phase 1 applied', () => applied(w1) >= phase1.length);
    const phase2 = [
      ...Array.from({ length: 13 }, (_, k) => ({ datasetId: ds.crm, record: { crmId: `C${3 * k}`, personalEmail: { address: `p${3 * k}@example.com` }, mobilePhone: { number: `+1415555${String(1000 + k)}` } } })),
      // A merge of two people, and a unique-namespace conflict (a warning).
      { datasetId: ds.web, record: { personalEmail: { address: 'p1@example.com' }, identityMap: { email: [{ id: 'p2@example.com' }] } } },
    ];
    expect((await ingestBatch(node.api, phase2)).status).toBe(207);
    await until('phase 2 applied', () => applied(w1) >= phase1.length + phase2.length);
    expect((await ingestBatch(node.api, [{ datasetId: ds.web, record: { crmId: 'C999', personalEmail: { address: 'p0@example.com' } } }])).status).toBe(207);
    await until('phase 3 applied', () => applied(w1) >= phase1.length + phase2.length + 1);
    // Real-time changes, applied by the API node before it answers.
    const p5 = String((await node.api('GET', `${base}/profiles?identity=email:p5@example.com`)).body.customerId);
    expect((await node.api('PATCH', `${base}/data/Customer/${p5}`, { body: { loyalty: { tier: 'gold' } } })).status).toBe(204);
    expect((await node.api('POST', `${base}/data/UnifiedActivity`, { body: { ActivityId: 'ua-1', CustomerId: p5, ActivityTime: '2026-02-01T00:00:00Z', ActivityType: 'Call' } })).status).toBe(201);
    const live = await snapshot(node.api);
    expect(live.profiles).toHaveLength(40);
    const logged = phase1.length + phase2.length + 1 + 2;
    await until('the lake writer past every record', () => w1.status().lakeRecords >= logged);

    // A day later the lake writer rewrites yesterday's segments as Parquet; today's stay open.
    expect(w1.status().lakeWriter).toBe(true);
    expect(await w1.compactLake()).toBe(0);
    await w1.close();
    const w2 = await worker(new ManualClock(today + DAY));
    await until('the second worker holding the lake writer', () => w2.status().lakeWriter);
    const compacted = await w2.compactLake();
    expect(compacted).toBeGreaterThan(0);
    expect(files(lakeDir).filter((f) => f.endsWith('.ndjson'))).toEqual([]);
    expect(files(lakeDir).filter((f) => f.endsWith('.parquet'))).toHaveLength(compacted);
    await w2.close();

    const env = { TESSERA_POSTGRES_URL: PG_URL, TESSERA_POSTGRES_SCHEMA: schema, TESSERA_NATS_URL: NATS_URL, TESSERA_NATS_STREAM: stream, TESSERA_PARTITIONS: '4' };
    // A running worker holds its locks: the rebuild refuses to run beside it.
    const w3 = await worker(new ManualClock(today + DAY));
    await until('the worker holding partitions', () => w3.status().partitions.length > 0);
    const refused = runCli(['rebuild', '--backend', 'postgres', '--data-dir', shared], env);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/stop every `tessera worker`/);
    await w3.close();

    // With the workers stopped, more records are acknowledged: in the log, not yet in the lake nor applied.
    const late = Array.from({ length: 5 }, (_, i) => ({ datasetId: ds.web, record: { personalEmail: { address: `late${i}@example.com` } } }));
    expect((await ingestBatch(node.api, late)).status).toBe(207);
    await node.server.close();

    // The rebuild writes the log's tail to the lake first, then recomputes everything from the lake.
    const rebuilt = runCli(['rebuild', '--backend', 'postgres', '--data-dir', shared], env);
    expect(rebuilt.status, rebuilt.stderr).toBe(0);
    expect(rebuilt.stdout).toMatch(new RegExp(`^wrote ${late.length} records from the log to the lake\nrebuilt all instances from the lake: ${logged + late.length} records applied`));

    node = await apiNode();
    const after = await snapshot(node.api);
    const isLate = (p: unknown): boolean => JSON.stringify(p).includes('late');
    expect(after.profiles.filter(isLate)).toHaveLength(late.length);
    expect({ ...after, profiles: after.profiles.filter((p) => !isLate(p)) }).toEqual(live);

    // A worker resumes from its offsets: what it meets again is in the rebuilt state already.
    const w4 = await worker(new ManualClock(today + DAY));
    await until('the worker holding partitions', () => w4.status().partitions.length > 0 && w4.status().lakeWriter);
    await new Promise((r) => setTimeout(r, 500));
    expect(await snapshot(node.api)).toEqual(after);

    // Retention: web keeps a day; two days on, its partitions are gone, the others' stay.
    expect((await node.api('PATCH', `${base}/manage/datasets/web`, { body: { retentionDays: 1 } })).status).toBe(200);
    await w4.close();
    const w5 = await worker(new ManualClock(today + 2 * DAY));
    await until('the worker holding the lake writer', () => w5.status().lakeWriter);
    await w5.compactLake();
    const left = files(lakeDir).filter((f) => f.endsWith('.parquet') || f.endsWith('.ndjson'));
    expect(left.filter((f) => f.startsWith(`default/${ds.web}/`))).toEqual([]);
    expect(left.filter((f) => f.startsWith(`default/${ds.crm}/`)).length).toBeGreaterThan(0);
  }, 180_000);
});
