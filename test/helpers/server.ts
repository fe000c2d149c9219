import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/server.js';
import type { Clock } from '../../src/domain/clock.js';
import { dropSchema, freshSchemaName, PG_URL } from './postgres.js';
import { deleteStream, NATS_URL, natsForTests } from './nats.js';
import { startLogWorker } from '../../src/runtime/log-worker.js';

export const ADMIN_KEY = 'test-admin-key-0123456789';

export interface TestServer {
  url: string;
  dataDir: string;
  server: RunningServer;
  api: Api;
  /** Resolves once what was acknowledged is applied (at once, but in the scale-out mode). */
  settled(): Promise<void>;
  /** The Prometheus text of the server, and in the scale-out mode also of its worker (which applies streaming ingestion). */
  metrics(): Promise<string>;
  /** Lake upkeep now: the server's, or in the scale-out mode the lake writer's (the worker's). */
  compactLake(): Promise<number>;
  close(): Promise<void>;
}

/** A parsed JSON answer: every property is again a Doc, so tests can walk it and assert on it. */
export interface Doc {
  [key: string]: Doc;
}

export interface ApiResponse<T = Doc> {
  status: number;
  body: T;
  headers: Headers;
}

export type Api = <T = Doc>(method: string, path: string, options?: { body?: unknown; raw?: string | Buffer; key?: string | null; headers?: Record<string, string> }) => Promise<ApiResponse<T>>;

export function makeApi(url: string, defaultKey: string): Api {
  return async <T = Doc>(method: string, path: string, options: Parameters<Api>[2] = {}): Promise<ApiResponse<T>> => {
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    const key = options.key === undefined ? defaultKey : options.key;
    if (key !== null) headers['authorization'] ??= `Bearer ${key}`;
    let body: string | Buffer | undefined;
    if (options.raw !== undefined) body = options.raw;
    else if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined) headers['content-type'] ??= 'application/json';
    const payload: string | Blob | undefined = typeof body === 'string' || body === undefined ? body : new Blob([new Uint8Array(body)]);
    const res = await fetch(url + path, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  };
}

/**
 * The backend the behaviour tests run on: TESSERA_TEST_BACKEND=postgres runs them on PostgreSQL,
 * =nats in the scale-out mode (PostgreSQL, the NATS JetStream log and a worker in this process).
 */
export const TEST_BACKEND: 'embedded' | 'postgres' | 'nats' = process.env['TESSERA_TEST_BACKEND'] === 'postgres' ? 'postgres' : process.env['TESSERA_TEST_BACKEND'] === 'nats' ? 'nats' : 'embedded';

/** Requests whose records the scale-out mode applies after the answer (streaming ingestion and tracking). */
const APPLIED_LATER = /\/collection\/|^\/v1\//;

/**
 * In the scale-out mode streaming ingestion is applied by the workers after the acknowledgement:
 * the tests' api waits after such a request until the worker has applied everything in the log,
 * so that the same assertions hold as on the embedded backend (which applies before it answers).
 */
function settling(api: Api, settled: () => Promise<void>): Api {
  return async <T = Doc>(method: string, path: string, options?: Parameters<Api>[2]): Promise<ApiResponse<T>> => {
    const res = await api<T>(method, path, options);
    if (method !== 'GET' && APPLIED_LATER.test(path)) await settled();
    return res;
  };
}

/** A real server on a free port over a fresh data dir (and, on PostgreSQL, a fresh schema; with NATS, a fresh stream and a worker). */
export async function startTestServer(options: { clock?: Clock; dataDir?: string } = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'tessera-test-'));
  const schema = TEST_BACKEND !== 'embedded' ? await freshSchemaName() : undefined;
  const postgres = schema ? { url: PG_URL, schema } : undefined;
  const nats = TEST_BACKEND === 'nats' && schema ? { url: NATS_URL, stream: `T_${schema.toUpperCase()}`, partitions: 4, maxMessages: 1_000_000, maxBytes: 1 << 30 } : undefined;
  if (nats && !(await natsForTests())) throw new Error(`TESSERA_TEST_BACKEND=nats, but NATS JetStream is not reachable at ${NATS_URL}`);
  const server = await startServer(
    {
      port: 0,
      host: '127.0.0.1',
      dataDir,
      bootstrapAdminKey: ADMIN_KEY,
      logLevel: 'warn',
      usageTelemetry: true,
      rateLimits: true,
      backend: postgres ? 'postgres' : 'embedded',
      ...(postgres ? { postgres } : {}),
      ...(nats ? { nats } : {}),
    },
    { logger: false, ...(options.clock ? { clock: options.clock } : {}) },
  );
  const worker = postgres && nats ? await startLogWorker({ postgres, nats, dataDir, port: 0, onError: (err, where) => process.stderr.write(`test worker: ${where}: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`), ...(options.clock ? { clock: options.clock } : {}) }) : undefined;
  const settled = async (): Promise<void> => {
    const deadline = Date.now() + 30_000;
    while (worker && !(await worker.caughtUp())) {
      if (Date.now() > deadline) throw new Error('the worker did not catch up with the log within 30 s');
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const url = server.url;
  const api = makeApi(url, ADMIN_KEY);
  return {
    url,
    dataDir,
    server,
    api: worker ? settling(api, settled) : api,
    settled,
    compactLake: () => (worker ? worker.compactLake() : server.tessera.compactLake()),
    async metrics() {
      const urls = [url, ...(worker?.url ? [worker.url] : [])];
      return (await Promise.all(urls.map(async (u) => (await fetch(`${u}/metrics`)).text()))).join('\n');
    },
    async close() {
      await worker?.close();
      await server.close();
      if (nats) await deleteStream(nats.stream);
      if (schema) await dropSchema(schema);
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
