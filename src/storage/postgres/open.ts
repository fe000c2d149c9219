import pg from 'pg';
import { migratePostgres } from './migrations.js';

export interface PostgresOptions {
  url: string;
  /** A schema to keep Tessera's tables in (created if missing); default: the connection's search_path. */
  schema?: string;
  maxConnections?: number;
}

/**
 * The URL without its `options` parameter (PostgreSQL settings for each session, e.g.
 * `?options=-c%20statement_timeout%3D5000`), and that parameter. pg lets a URL's parameters win
 * over the pool's own, so a URL with `options` used to drop the pool's (the schema's search_path
 * among them: Tessera's tables then went into the connection's default schema); now both apply.
 */
function splitOptions(url: string): { url: string; options: string | null } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { url, options: null };
  }
  const options = parsed.searchParams.get('options');
  if (options === null) return { url, options: null };
  parsed.searchParams.delete('options');
  return { url: parsed.toString(), options };
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
  const fromUrl = splitOptions(options.url);
  const pool = new pg.Pool({
    connectionString: fromUrl.url,
    max: options.maxConnections ?? 10,
    // Statements are prepared once per connection; each execution is still planned with its
    // values (generic plans made while tables were small would keep scanning once they grow).
    // The URL's own settings first: for a setting given twice, the later one holds.
    options: `${fromUrl.options === null ? '' : `${fromUrl.options} `}-c plan_cache_mode=force_custom_plan${options.schema ? ` -c search_path=${options.schema}` : ''}`,
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
