import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { migrate } from './migrations.js';

/** The embedded state database of a data dir. */
export const stateDbFile = (dataDir: string): string => join(dataDir, 'state.db');

/**
 * Opens the state database in WAL mode. `synchronous=NORMAL` is safe here because the lake is
 * fsync'd before any acknowledgement and the tail of the lake is replayed on start.
 *
 * `writer`: the writer thread's connection reads through SQLite's page cache, of 32 MB, and maps
 * nothing. A map of the file counts every page it touches in the process's RSS, up to 256 MB, and
 * no connection ever drops those pages, because no other connection writes (the main thread's
 * writes go through the writer). Without the map and with half the cache, a 200 MB import peaks
 * about 100 MB lower; bench:ingest and bench:batch were no slower in the same hour.
 */
export function openDatabase(file: string, options: { readonly?: boolean; writer?: boolean } = {}): Database.Database {
  if (!options.readonly) mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file, { readonly: options.readonly ?? false });
  db.pragma('busy_timeout = 5000');
  if (!options.readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // Checkpoint in larger, rarer steps: each commit then appends to the WAL and seldom copies back.
    // The writer thread's connection leaves the copying to a checkpointer thread (WalCheckpointer)
    // and checkpoints itself only at 256 MB of WAL, the remainder since that thread's last pass.
    db.pragma(`wal_autocheckpoint = ${options.writer ? 65536 : 16384}`);
    migrate(db);
  }
  db.pragma(`cache_size = ${options.writer ? -32768 : -65536}`);
  db.pragma('temp_store = MEMORY');
  db.pragma(`mmap_size = ${options.writer ? 0 : 268435456}`);
  return db;
}
