import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../../src/server.js';
import type { Clock } from '../../src/domain/clock.js';
import { dropSchema, freshSchemaName, PG_URL } from './postgres.js';

export const ADMIN_KEY = 'test-admin-key-0123456789';

export interface TestServer {
  url: string;
  dataDir: string;
  server: RunningServer;
  api: Api;
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

/** The backend the behaviour tests run on: TESSERA_TEST_BACKEND=postgres runs them on PostgreSQL. */
export const TEST_BACKEND: 'embedded' | 'postgres' = process.env['TESSERA_TEST_BACKEND'] === 'postgres' ? 'postgres' : 'embedded';

/** A real server on a free port over a fresh data dir (and, on PostgreSQL, a fresh schema). */
export async function startTestServer(options: { clock?: Clock; dataDir?: string } = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'tessera-test-'));
  const schema = TEST_BACKEND === 'postgres' ? await freshSchemaName() : undefined;
  const server = await startServer(
    {
      port: 0,
      host: '127.0.0.1',
      dataDir,
      bootstrapAdminKey: ADMIN_KEY,
      logLevel: 'warn',
      usageTelemetry: true,
      rateLimits: true,
      backend: TEST_BACKEND,
      ...(schema ? { postgres: { url: PG_URL, schema } } : {}),
    },
    { logger: false, ...(options.clock ? { clock: options.clock } : {}) },
  );
  const url = server.url;
  return {
    url,
    dataDir,
    server,
    api: makeApi(url, ADMIN_KEY),
    async close() {
      await server.close();
      if (schema) await dropSchema(schema);
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
