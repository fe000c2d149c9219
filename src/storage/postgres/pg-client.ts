import pg from 'pg';
import type { SqlClient, SqlValue } from '../sql/sql-client.js';
import { TransactionConflict } from '../../ports/profile-store.js';

/** serialization_failure, deadlock_detected: the transaction lost a race and may be run again. */
const CONFLICT_CODES: ReadonlySet<string> = new Set(['40001', '40P01']);

/** Keys a writer inserts after finding them free: taken meanwhile by another writer, the transaction lost a race. */
const RACED_KEYS: ReadonlySet<string> = new Set(['identities_pkey', 'fragments_pkey', 'activities_pkey']);

/** Those, and an identity, fragment or activity another writer added first (its key is taken): run again, it is found. */
const conflictOr = (err: unknown): unknown => {
  const { code, constraint } = err as { code?: unknown; constraint?: unknown };
  const lost = (typeof code === 'string' && CONFLICT_CODES.has(code)) || (code === '23505' && typeof constraint === 'string' && RACED_KEYS.has(constraint));
  return lost ? new TransactionConflict((err as Error).message) : err;
};

// BIGINT (times in ms, counts) as numbers: they stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => Number(v));

/** `?` placeholders (outside quotes) → `$1, $2, …`; SQLite's `INDEXED BY` hints dropped. */
export function toPostgresSql(sql: string): string {
  let out = '';
  let n = 0;
  let quoted = false;
  for (const ch of sql) {
    if (ch === "'") quoted = !quoted;
    out += ch === '?' && !quoted ? `$${++n}` : ch;
  }
  return out.replace(/\s+INDEXED BY \w+/g, '');
}

/** SqlClient on a pg pool (or one checked-out client, inside a transaction). */
export class PgClient implements SqlClient {
  /** Each statement as a named (prepared once per connection) query. */
  private static readonly queries = new Map<string, { name: string; text: string }>();

  /** `db`: the pool, or (inside a transaction) the one client the transaction runs on. */
  constructor(private readonly db: pg.Pool | pg.PoolClient) {}

  private query(sql: string, params: readonly SqlValue[]): pg.QueryConfig<SqlValue[]> {
    if (/^(SAVEPOINT|RELEASE|ROLLBACK)/.test(sql)) return { text: sql, values: [...params] };
    let q = PgClient.queries.get(sql);
    if (!q) PgClient.queries.set(sql, (q = { name: `t${PgClient.queries.size}`, text: toPostgresSql(sql) }));
    return { ...q, values: [...params] };
  }

  private async exec(sql: string, params: readonly SqlValue[]): Promise<pg.QueryResult> {
    try {
      return await this.db.query(this.query(sql, params));
    } catch (err) {
      throw conflictOr(err);
    }
  }

  async all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return (await this.exec(sql, params)).rows as T[];
  }

  async get<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return (await this.exec(sql, params)).rows[0] as T | undefined;
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number }> {
    return { changes: (await this.exec(sql, params)).rowCount ?? 0 };
  }

  async transaction<T>(fn: (tx: SqlClient) => Promise<T>, options: { readSnapshot?: boolean } = {}): Promise<T> {
    if (!(this.db instanceof pg.Pool)) return fn(this); // already inside one
    const client = await this.db.connect();
    try {
      await client.query(options.readSnapshot ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN');
      const result = await fn(new PgClient(client));
      await client.query('COMMIT');
      client.release();
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
      throw conflictOr(err);
    }
  }
}
