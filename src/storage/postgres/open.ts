import pg from 'pg';
import { migratePostgres } from './migrations.js';

export interface PostgresOptions {
  url: string;
  /** A schema to keep Tessera's tables in (created if missing); default: the connection's search_path. */
  schema?: string;
  maxConnections?: number;
}

/** A pool on the database, with the migrations applied. */
export async function openPostgres(options: PostgresOptions): Promise<pg.Pool> {
  if (options.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(options.schema)) throw new Error(`invalid schema name ${options.schema}`);
  if (options.schema) {
    const admin = new pg.Client({ connectionString: options.url });
    await admin.connect();
    try {
      await admin.query(`CREATE SCHEMA IF NOT EXISTS ${options.schema}`);
    } finally {
      await admin.end();
    }
  }
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.maxConnections ?? 10,
    // Statements are prepared once per connection; each execution is still planned with its
    // values (generic plans made while tables were small would keep scanning once they grow).
    options: `-c plan_cache_mode=force_custom_plan${options.schema ? ` -c search_path=${options.schema}` : ''}`,
  });
  // A connection that breaks while idle (a restart, a terminated backend) is dropped by the pool;
  // it must not take the process down.
  pool.on('error', () => undefined);
  const client = await pool.connect();
  try {
    await migratePostgres(client);
  } finally {
    client.release();
  }
  return pool;
}
