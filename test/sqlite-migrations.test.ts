import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATIONS, migrate } from '../src/storage/sqlite/migrations.js';
import { openDatabase } from '../src/storage/sqlite/open.js';
import { SqliteProfileReader } from '../src/storage/sqlite/profile-reader.js';
import { SqliteProfileTx } from '../src/storage/sqlite/profile-tx.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const FRAGMENT = 'INSERT INTO fragments (instance_id, dataset_id, record_key, customer_id, ts, received_at, hash, record, dedup_loser) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)';
const ROWS: Array<[string, string, string, string, number, number, string, string, number]> = [
  ['default', 'crm', 'email:b@example.com', 'c-2', 20, 21, 'h-b', '{"name":"B"}', 0],
  ['default', 'crm', 'email:a@example.com', 'c-1', 10, 11, 'h-a', '{"name":"A"}', 0],
  ['default', 'web', 'cookie:k1', 'c-1', 12, 13, 'h-k', '{"name":"A2"}', 1],
  ['other', 'crm', 'email:a@example.com', 'c-9', 30, 31, 'h-o', '{"name":"O"}', 0],
];

/** A store as version 9 of the schema left it, with fragments of two instances. */
function storeAtVersion9(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-migrations-'));
  dirs.push(dir);
  const file = join(dir, 'state.db');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  migrate(db, MIGRATIONS.filter((m) => m.version <= 9));
  const insert = db.prepare(FRAGMENT);
  for (const row of ROWS) insert.run(...row);
  db.close();
  return file;
}

describe('SQLite migrations', () => {
  it('moves fragments to a rowid table with a unique key index (migration 10), keeping every row, and reads and upserts them as before', async () => {
    const file = storeAtVersion9();
    const before = new Database(file);
    expect((before.prepare("SELECT wr FROM pragma_table_list WHERE name = 'fragments'").get() as { wr: number }).wr).toBe(1);
    before.close();

    const db = openDatabase(file, { writer: true });
    expect((db.prepare("SELECT wr FROM pragma_table_list WHERE name = 'fragments'").get() as { wr: number }).wr).toBe(0);
    expect(db.prepare('SELECT max(version) FROM schema_migrations').pluck().get()).toBe(MIGRATIONS.at(-1)!.version);
    const all = db.prepare('SELECT instance_id, dataset_id, record_key, customer_id, ts, received_at, hash, record, dedup_loser FROM fragments ORDER BY instance_id, dataset_id, record_key').raw().all();
    expect(all).toEqual([...ROWS].sort((a, b) => `${a[0]}|${a[1]}|${a[2]}`.localeCompare(`${b[0]}|${b[1]}|${b[2]}`)));
    // Copied one person after another.
    expect(db.prepare("SELECT customer_id FROM fragments WHERE instance_id = 'default' ORDER BY rowid").pluck().all()).toEqual(['c-1', 'c-1', 'c-2']);

    const reader = new SqliteProfileReader(db);
    const fragments = await reader.fragments('default', 'c-1');
    expect(fragments.map((f) => [f.datasetId, f.recordKey, f.record])).toEqual([
      ['crm', 'email:a@example.com', { name: 'A' }],
      ['web', 'cookie:k1', { name: 'A2' }],
    ]);
    const tx = new SqliteProfileTx(db);
    const fragment = { datasetId: 'crm', recordKey: 'email:a@example.com', customerId: 'c-1', timestamp: 40, receivedAt: 41, json: '{"name":"A"}', hash: 'h-a' };
    expect(tx.upsertFragment('default', fragment)).toBe(false);
    expect(tx.upsertFragment('default', { ...fragment, json: '{"name":"A3"}', hash: 'h-a3' })).toBe(true);
    expect(tx.upsertFragment('default', { ...fragment, recordKey: 'email:new@example.com' })).toBe(true);
    expect(db.prepare("SELECT record_key, record FROM fragments WHERE instance_id = 'default' AND dataset_id = 'crm' ORDER BY record_key").raw().all()).toEqual([
      ['email:a@example.com', '{"name":"A3"}'],
      ['email:b@example.com', '{"name":"B"}'],
      ['email:new@example.com', '{"name":"A"}'],
    ]);
    db.close();
  });
});
