import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeApi } from './helpers/server.js';
import { openDatabase } from '../src/storage/sqlite/open.js';
import { RoutedSqliteClient } from '../src/storage/sqlite/routed-sqlite-client.js';
import { SqlEndpoint } from '../src/storage/sqlite/sql-endpoint.js';
import { SqliteClient } from '../src/storage/sqlite/sqlite-client.js';
import { TransactionQueue } from '../src/storage/sqlite/transaction-queue.js';
import { processJanitor, spawnServer } from './helpers/process.js';

const janitor = processJanitor();
afterEach(janitor.cleanup);
const KEY = 'lock-admin-key-0123456789';

describe('the HTTP thread and SQLite\'s write lock (embedded)', () => {
  it('keeps answering while the write lock is held elsewhere; a write made meanwhile waits on the writer thread and lands', async () => {
    const dir = janitor.tempDir();
    const s = janitor.track(await spawnServer(['--data-dir', join(dir, 'data')], { TESSERA_BOOTSTRAP_ADMIN_KEY: KEY }));
    const api = makeApi(s.url, KEY);
    // Another connection takes the write lock, as a refresh run's publish or a long group commit does.
    const holder = new Database(join(dir, 'data', 'state.db'));
    holder.pragma('busy_timeout = 5000');
    holder.exec('BEGIN IMMEDIATE');
    let released = false;
    let created: { status: number; body: Record<string, unknown> } | undefined;
    const creating = api('POST', '/api/instances/default/manage/keys', { body: { name: 'made while locked', role: 'viewer' } }).then((r) => {
      created = { status: r.status, body: r.body as unknown as Record<string, unknown> };
    });
    // Reads are answered at once; the key is not created until the lock is let go. (A server whose
    // HTTP thread waited for the lock would answer nothing until the holder let go or SQLite gave up
    // after its 5 s busy timeout; the holder lets go 4.5 s after the reads were sent at the latest.)
    await new Promise((r) => setTimeout(r, 300)); // the create request reaches the server first
    const giveUp = setTimeout(() => {
      released = true;
      holder.exec('COMMIT');
    }, 4_500);
    const health = await api('GET', '/healthz', { key: null });
    const keys = await api('GET', '/api/instances/default/manage/keys');
    const answeredWhileLocked = !released;
    clearTimeout(giveUp);
    expect(health.status).toBe(200);
    expect(keys.status).toBe(200);
    expect(answeredWhileLocked).toBe(true);
    expect(created).toBeUndefined();
    if (!released) holder.exec('COMMIT');
    holder.close();
    await creating;
    expect(created?.status, JSON.stringify(created?.body)).toBe(201);
    const names = ((await api('GET', '/api/instances/default/manage/keys')).body.keys as unknown as Array<{ name: string }>).map((k) => k.name);
    expect(names).toContain('made while locked');
  });
});

describe('the main thread\'s SQL on the writer\'s connection', () => {
  it('runs statements and transactions there: a transaction reads its own writes, a failed one leaves nothing, reads here see what was committed', async () => {
    const file = join(janitor.tempDir(), 'state.db');
    const writerDb = openDatabase(file, { writer: true });
    const queue = new TransactionQueue(writerDb);
    const endpoint = new SqlEndpoint(new SqliteClient(writerDb, queue), queue);
    const mainDb = openDatabase(file);
    const sql = new RoutedSqliteClient(new SqliteClient(mainDb), { sql: (request) => endpoint.handle(request) });
    await sql.run('CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)');
    expect(await sql.run('INSERT INTO t (k, v) VALUES (?, ?), (?, ?)', ['a', 1, 'b', 2])).toEqual({ changes: 2 });

    const seen = await sql.transaction(async (tx) => {
      await tx.run('UPDATE t SET v = v + 10 WHERE k = ?', ['a']);
      return tx.get<{ v: number }>('SELECT v FROM t WHERE k = ?', ['a']);
    });
    expect(seen).toEqual({ v: 11 });
    await expect(
      sql.transaction(async (tx) => {
        await tx.run('INSERT INTO t (k, v) VALUES (?, ?)', ['c', 3]);
        expect(await tx.all('SELECT k FROM t ORDER BY k')).toEqual([{ k: 'a' }, { k: 'b' }, { k: 'c' }]);
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    // A statement waits for the transaction before it in the queue, and then runs.
    const first = sql.transaction(async (tx) => {
      await tx.run('UPDATE t SET v = v + 100 WHERE k = ?', ['b']);
    });
    const second = sql.run('UPDATE t SET v = v * 2 WHERE k = ?', ['b']);
    await Promise.all([first, second]);
    expect(await sql.all('SELECT k, v FROM t ORDER BY k')).toEqual([
      { k: 'a', v: 11 },
      { k: 'b', v: 204 },
    ]);
    mainDb.close();
    writerDb.close();
  });
});
