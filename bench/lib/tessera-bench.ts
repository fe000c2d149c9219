import autocannon from 'autocannon';
import pg from 'pg';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, startChild, type Child } from './harness.js';
import { json, postUntilTaken } from './http.js';
import { EVENT_SCHEMA, PROFILE_SCHEMA, traffic, type Message } from './traffic.js';

export const KEY = 'bench-admin-key-0123456789';

export interface BenchServer {
  server: Child;
  /** Scale-out (`--nats`): the worker that applies the log. */
  worker?: Child;
  /** Scale-out: records the worker has taken from the log so far. */
  applied?(): Promise<number>;
  api: string;
  crm: string;
  events: string;
  close(): Promise<void>;
}

/**
 * `--backend postgres` runs the benchmarks' servers on PostgreSQL (TESSERA_BENCH_POSTGRES_URL,
 * default the local test database), each in a fresh schema dropped afterwards.
 */
export const BACKEND = process.argv.includes('--backend') ? process.argv[process.argv.indexOf('--backend') + 1] : 'embedded';
export const BENCH_PG_URL = process.env['TESSERA_BENCH_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
/** `--nats`: scale-out mode, one API node and one worker (`tessera worker`) over NATS JetStream. */
export const NATS = BACKEND === 'postgres' && process.argv.includes('--nats');
const BENCH_NATS_URL = process.env['TESSERA_BENCH_NATS_URL'] ?? '127.0.0.1:4222';
/** `--max-apply-lag <ms>` (scale-out): the API node paces streaming ingestion to the worker (TESSERA_MAX_APPLY_LAG_MS). */
export const MAX_APPLY_LAG_MS = NATS && process.argv.includes('--max-apply-lag') ? Number(process.argv[process.argv.indexOf('--max-apply-lag') + 1]) : undefined;

async function deleteStream(name: string): Promise<void> {
  const nc = await connect({ servers: BENCH_NATS_URL });
  await (await jetstreamManager(nc)).streams.delete(name).catch(() => undefined);
  await nc.close();
}

async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: BENCH_PG_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
}

/** A real Tessera server (separate process, fresh data dir) with a person schema and two datasets. */
export async function startBenchServer(env: Record<string, string> = {}): Promise<BenchServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-bench-'));
  const schema = BACKEND === 'postgres' ? `bench_${Date.now().toString(36)}` : undefined;
  if (schema) env = { TESSERA_BACKEND: 'postgres', TESSERA_POSTGRES_URL: BENCH_PG_URL, TESSERA_POSTGRES_SCHEMA: schema, ...env };
  if (schema && NATS) env = { TESSERA_NATS_URL: BENCH_NATS_URL, TESSERA_NATS_STREAM: schema.toUpperCase(), TESSERA_PARTITIONS: '8', ...env };
  if (MAX_APPLY_LAG_MS !== undefined) env = { TESSERA_MAX_APPLY_LAG_MS: String(MAX_APPLY_LAG_MS), ...env };
  const nodeArgs = (process.env['BENCH_SERVER_NODE_ARGS'] ?? '').split(' ').filter(Boolean);
  const server = await startChild([...nodeArgs, join(ROOT, 'dist', 'cli', 'main.js'), 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn'], {
    TESSERA_BOOTSTRAP_ADMIN_KEY: KEY,
    ...env,
  });
  const worker = NATS ? await startChild([...nodeArgs, join(ROOT, 'dist', 'cli', 'main.js'), 'worker', '--port', '0', '--data-dir', dataDir], env) : undefined;
  const api = `${server.url}/api/instances/default`;
  // Throughput is what is measured: the limits are raised above it (the checks still run).
  await json('PATCH', `${api}/manage/settings`, KEY, { rateLimits: { requestsPerSecond: 1e9, messagesPerSecond: 1e9, syncValidationPerMinute: 1e9 } });
  const profileSchema = await json<{ id: string }>('POST', `${api}/manage/schemas`, KEY, { name: 'Person', class: 'profile', jsonSchema: PROFILE_SCHEMA, fieldGroups: ['homeAddress'] });
  const eventSchema = await json<{ id: string }>('POST', `${api}/manage/schemas`, KEY, { name: 'Event', class: 'activity', jsonSchema: EVENT_SCHEMA });
  const crm = await json<{ id: string }>('POST', `${api}/manage/datasets`, KEY, { name: 'crm', schemaId: profileSchema.id });
  const events = await json<{ id: string }>('POST', `${api}/manage/datasets`, KEY, { name: 'events', schemaId: eventSchema.id });
  return {
    server,
    ...(worker
      ? {
          worker,
          applied: async () => {
            const h = (await (await fetch(`${worker.url}/health`)).json()) as { outcomes: Record<string, number> };
            return Object.entries(h.outcomes).reduce((n, [k, v]) => (k === 'skipped' ? n : n + v), 0);
          },
        }
      : {}),
    api,
    crm: crm.id,
    events: events.id,
    close: async () => {
      await server.stop();
      await worker?.stop();
      if (worker) await deleteStream(schema!.toUpperCase());
      rmSync(dataDir, { recursive: true, force: true });
      if (schema) await dropSchema(schema);
    },
  };
}

/** Batch bodies for the generated traffic, made before any clock starts. */
export function trafficBatches(people: number, s: BenchServer, batch: number): Array<{ body: string; count: number }> {
  return batchBodies(traffic({ people, profileDataset: s.crm, eventDataset: s.events }), batch);
}

/** Batch bodies of `batch` messages each (the last may hold fewer). */
export function batchBodies(all: Iterable<Message>, batch: number): Array<{ body: string; count: number }> {
  const bodies: Array<{ body: string; count: number }> = [];
  let messages: Message[] = [];
  for (const m of all) {
    messages.push(m);
    if (messages.length === batch) {
      bodies.push({ body: JSON.stringify({ messages }), count: messages.length });
      messages = [];
    }
  }
  if (messages.length > 0) bodies.push({ body: JSON.stringify({ messages }), count: messages.length });
  return bodies;
}

/** Sends the batches, `concurrency` at a time; a batch refused with 503 (the server's backpressure) is sent again after its Retry-After. */
export async function sendBatches(s: BenchServer, bodies: Array<{ body: string; count: number }>, concurrency: number, onProgress?: (sent: number) => void): Promise<{ sent: number; rejected: number; retried: number }> {
  let sent = 0;
  let rejected = 0;
  let retried = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let b = bodies[next++]; b !== undefined; b = bodies[next++]) {
      const res = await postUntilTaken(`${s.api}/collection/batch`, KEY, b.body, () => retried++);
      if (res.status !== 207) throw new Error(`batch: ${res.status} ${res.body.slice(0, 300)}`);
      rejected += res.body.split('"error"').length - 1;
      sent += b.count;
      onProgress?.(sent);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { sent, rejected, retried };
}

export function cannon(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(opts, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

/** The denominator: a bare Fastify no-op server under the same load shape (POST, JSON body). */
export async function noopBaseline(connections: number, seconds: number, body: string): Promise<number> {
  const noop = await startChild(['--import', 'tsx', join(ROOT, 'bench', 'noop-server.ts')]);
  try {
    const r = await cannon({ url: `${noop.url}/noop/x`, method: 'POST', connections, duration: seconds, headers: { 'content-type': 'application/json' }, body });
    return r.requests.average;
  } finally {
    await noop.stop();
  }
}
