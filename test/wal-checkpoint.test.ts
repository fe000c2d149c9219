import Database from 'better-sqlite3';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WalCheckpointer } from '../src/runtime/wal-checkpointer.js';
import { WAL_INDEX_HEADER_BYTES, walIndexFrames } from '../src/storage/sqlite/wal-index.js';
import { processJanitor } from './helpers/process.js';

const janitor = processJanitor();
afterEach(janitor.cleanup);
const PAGE = 4096;

/** A writer as the embedded one is: WAL, no checkpoint of its own below a large WAL. */
function openWriter(file: string): Database.Database {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('wal_autocheckpoint = 65536');
  db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB NOT NULL)');
  return db;
}

/** Commits `pages` pages' worth of rows, one row a page. */
function write(db: Database.Database, from: number, pages: number): void {
  const insert = db.prepare('INSERT INTO t (k, v) VALUES (?, zeroblob(3000))');
  db.transaction(() => {
    for (let k = from; k < from + pages; k++) insert.run(k);
  })();
}

/** The WAL index header: the last frame committed and the last one copied back. */
const walIndex = (file: string): { last: number; copied: number } => walIndexFrames(readFileSync(`${file}-shm`).subarray(0, WAL_INDEX_HEADER_BYTES));

const waitFor = async (check: () => boolean, ms: number): Promise<boolean> => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
};

describe('the WAL checkpointer thread (embedded)', () => {
  it('copies the WAL back into the database file on its own thread once enough pages wait, and not before', async () => {
    const file = join(janitor.tempDir(), 'state.db');
    const db = openWriter(file);
    const size = (): number => statSync(file).size;
    const checkpointer = new WalCheckpointer(file, { minFrames: 400, pollMs: 10, idleMs: 600_000 });
    try {
      const before = size();
      write(db, 0, 250);
      // Below the threshold nothing is copied: the pages stay in the WAL.
      expect(await waitFor(() => size() > before, 500)).toBe(false);
      write(db, 250, 250);
      // Over it, the database file takes them without the writer checkpointing.
      expect(await waitFor(() => size() >= before + 500 * PAGE && walIndex(file).copied === walIndex(file).last, 10_000)).toBe(true);
      expect((db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n).toBe(500);
      // The writer's next commit restarts the WAL from its start: nothing is left to copy.
      write(db, 500, 1);
      expect(walIndex(file).last).toBeLessThan(5);
    } finally {
      await checkpointer.close();
      db.close();
    }
  });

  it('truncates the WAL to nothing once nothing has been committed for a quiet spell, but not while a reader holds an older snapshot, and never holds the writer up', async () => {
    const file = join(janitor.tempDir(), 'state.db');
    const db = openWriter(file);
    const wal = (): number => statSync(`${file}-wal`).size;
    const count = (): number => (db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n;
    const reader = new Database(file, { readonly: true });
    const checkpointer = new WalCheckpointer(file, { minFrames: 400, pollMs: 10, idleMs: 100 });
    try {
      write(db, 0, 250);
      expect(wal()).toBeGreaterThan(250 * PAGE);
      expect(await waitFor(() => wal() === 0, 10_000)).toBe(true);
      expect(count()).toBe(250);
      expect(statSync(file).size).toBeGreaterThanOrEqual(250 * PAGE);

      // A reader in a transaction keeps its snapshot: the WAL it may read stays.
      reader.exec('BEGIN');
      expect((reader.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n).toBe(250);
      write(db, 250, 50);
      expect(await waitFor(() => wal() === 0, 1_000)).toBe(false);
      // The writer goes on meanwhile.
      write(db, 300, 10);
      expect(count()).toBe(310);
      reader.exec('COMMIT');
      expect(await waitFor(() => wal() === 0, 10_000)).toBe(true);
      expect(count()).toBe(310);
    } finally {
      await checkpointer.close();
      reader.close();
      db.close();
    }
  });
});
