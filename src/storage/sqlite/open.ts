import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { migrate } from './migrations.js';

/**
 * Opens the state database in WAL mode. `synchronous=NORMAL` is safe here because the lake is
 * fsync'd before any acknowledgement and the tail of the lake is replayed on start.
 */
export function openDatabase(file: string, options: { readonly?: boolean } = {}): Database.Database {
  if (!options.readonly) mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file, { readonly: options.readonly ?? false });
  db.pragma('busy_timeout = 5000');
  if (!options.readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // Checkpoint in larger, rarer steps: each commit then appends to the WAL and seldom copies back.
    db.pragma('wal_autocheckpoint = 16384');
    migrate(db);
  }
  db.pragma('cache_size = -65536');
  db.pragma('temp_store = MEMORY');
  db.pragma('mmap_size = 268435456');
  return db;
}
