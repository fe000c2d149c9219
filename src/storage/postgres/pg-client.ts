import pg from 'pg';
import type { SqlClient, SqlValue } from '../sql/sql-client.js';
import { TransactionConflict } from '../../ports/profile-store.js';
import { TesseraError } from '../../domain/errors.js';
import { storageFull } from '../../domain/storage-full.js';

/** serialization_failure, deadlock_detected: the transaction lost a race and may be run again. */
const CONFLICT_CODES: ReadonlySet<string> = new Set(['40001', '40P01']);

/** Keys a writer inserts after finding them free: taken meanwhile by another writer, the transaction lost a race. */
const RACED_KEYS: ReadonlySet<string> = new Set(['identities_pkey', 'fragments_pkey', 'activities_pkey']);

/** Socket errors, and PostgreSQL's connection exceptions (class 08), shutdowns and start-up, too many connections: the database is not there right now. */
const UNREACHABLE_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', '57P01', '57P02', '57P03', '53300']);
const UNREACHABLE_MESSAGES = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/;

/**
 * What a failed statement or transaction means to the callers: a lost race (those, and an
 * identity, fragment or activity another writer added first, whose key is taken: run again, it is
 * found), a database that cannot be reached now (503 with Retry-After, never a 500), or the error.
 */
export const storeErrorOf = (err: unknown): unknown => {
  const full = storageFull(err, 'the PostgreSQL database');
  if (full) return full;
  const { code, constraint } = err as { code?: unknown; constraint?: unknown };
  const lost = (typeof code === 'string' && CONFLICT_CODES.has(code)) || (code === '23505' && typeof constraint === 'string' && RACED_KEYS.has(constraint));
  if (lost) return new TransactionConflict((err as Error).message);
  const unreachable = (typeof code === 'string' && (UNREACHABLE_CODES.has(code) || code.startsWith('08'))) || (err instanceof Error && UNREACHABLE_MESSAGES.test(err.message));
  if (unreachable) return new TesseraError('unavailable', 'store_unavailable', `the database cannot be reached right now (${(err as Error).message}); retry shortly`, { retryAfterSeconds: 1 });
  return err;
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
      throw storeErrorOf(err);
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

  async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    if (!(this.db instanceof pg.Pool)) return fn(this); // already inside one
    const client = await this.db.connect().catch((err: unknown) => {
      throw storeErrorOf(err);
    });
    // A checked-out client's connection that dies between two statements (the transaction waiting
    // for the lake's sync, or for the transaction before it) is an 'error' event the pool does not
    // listen to for it: heard here, the next statement fails, and the client is not pooled again.
    let lost: Error | undefined;
    const onLost = (err: Error): void => void (lost ??= err);
    client.on('error', onLost);
    const release = (): void => {
      client.off('error', onLost);
      client.release(lost);
    };
    try {
      await client.query('BEGIN');
      const result = await fn(new PgClient(client));
      await client.query('COMMIT');
      release();
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      release();
      throw storeErrorOf(err);
    }
  }
}
