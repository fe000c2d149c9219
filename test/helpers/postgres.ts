import pg from 'pg';
import { openPostgres } from '../../src/storage/postgres/open.js';

export const PG_URL = process.env['TESSERA_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

async function reachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Whether the PostgreSQL tests run. In CI PostgreSQL must be there (.ci/run starts it): a
 * missing service fails loudly. Elsewhere the tests are skipped with a message.
 */
export async function postgresForTests(): Promise<boolean> {
  if (await reachable()) return true;
  if (process.env['CI']) throw new Error(`PostgreSQL is not reachable at ${PG_URL}; in CI the PostgreSQL tests must run (.ci/run starts the service)`);
  process.stderr.write(`PostgreSQL is not reachable at ${PG_URL}: the PostgreSQL tests are skipped (set TESSERA_TEST_POSTGRES_URL)\n`);
  return false;
}

/** A name for a schema of a test's own (PostgreSQL must be there when asked for one). */
export async function freshSchemaName(): Promise<string> {
  if (!(await postgresForTests())) throw new Error(`TESSERA_TEST_BACKEND=postgres, but PostgreSQL is not reachable at ${PG_URL}`);
  return `t_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

export async function dropSchema(schema: string): Promise<void> {
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  try {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await admin.end();
  }
}

/** A pool on a fresh schema of its own (dropped by `drop`), migrations applied. */
export async function freshSchema(): Promise<{ pool: pg.Pool; schema: string; openAnother(maxConnections?: number): Promise<pg.Pool>; drop(): Promise<void> }> {
  const schema = await freshSchemaName();
  const pools: pg.Pool[] = [await openPostgres({ url: PG_URL, schema, maxConnections: 4 })];
  return {
    pool: pools[0]!,
    schema,
    async openAnother(maxConnections = 4) {
      const pool = await openPostgres({ url: PG_URL, schema, maxConnections });
      pools.push(pool);
      return pool;
    },
    async drop() {
      await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
      await dropSchema(schema);
    },
  };
}
