import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WalCheckpointer } from '../src/runtime/wal-checkpointer.js';
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
    const checkpointer = new WalCheckpointer(file, { minFrames: 400, pollMs: 10 });
    try {
      const before = size();
      write(db, 0, 250);
      // Below the threshold nothing is copied: the pages stay in the WAL.
      expect(await waitFor(() => size() > before, 500)).toBe(false);
      write(db, 250, 250);
      // Over it, the database file takes them without the writer checkpointing.
      expect(await waitFor(() => size() >= before + 500 * PAGE, 10_000)).toBe(true);
      expect((db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n).toBe(500);
      // The writer's next commit restarts the WAL from its start: nothing is left to copy.
      write(db, 500, 1);
      const [state] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ busy: number; log: number; checkpointed: number }>;
      expect(state!.log).toBeLessThan(5);
      expect(state!.checkpointed).toBe(state!.log);
    } finally {
      await checkpointer.close();
      db.close();
    }
  });
});
