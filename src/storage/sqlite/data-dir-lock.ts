import Database from 'better-sqlite3';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { conflict } from '../../domain/errors.js';

/** An empty SQLite file; the process that runs the data dir holds a write lock on it. */
export const LOCK_FILE = 'tessera.lock';
/** Who holds the lock (pid, host, since when), for the message another process gets. */
export const LOCK_HOLDER_FILE = 'tessera.lock.holder';

interface Holder {
  pid: number;
  host: string;
  since: string;
}

export interface DataDirLock {
  release(): void;
}

/**
 * Takes the embedded data dir for this process, or throws `data_dir_in_use` at once if another
 * process (or another Tessera in this one) has it. Two processes on one data dir would each replay
 * the other's lake tail, compact its segments and run its refreshes, and their writers would wait
 * on each other's transactions.
 *
 * The lock is SQLite's on a file of its own (an open write transaction, a POSIX record lock
 * underneath), so the system drops it when the process ends in any way, kill -9 included: there is
 * no stale lock to clear by hand, whatever the pid of the next process.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(join(dataDir, LOCK_FILE), { timeout: 0 });
  try {
    // The file holds nothing: no rollback journal on disk beside it.
    db.pragma('journal_mode = MEMORY');
    db.exec('BEGIN IMMEDIATE');
  } catch (err) {
    db.close();
    if ((err as { code?: unknown }).code === 'SQLITE_BUSY') throw inUse(dataDir);
    throw err;
  }
  const holderFile = join(dataDir, LOCK_HOLDER_FILE);
  writeFileSync(holderFile, `${JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() } satisfies Holder)}\n`);
  return {
    release: () => {
      rmSync(holderFile, { force: true });
      db.exec('ROLLBACK');
      db.close();
    },
  };
}

function inUse(dataDir: string): Error {
  const holder = readHolder(dataDir);
  const who = holder ? ` (pid ${holder.pid} on ${holder.host}, since ${holder.since})` : '';
  return conflict(
    'data_dir_in_use',
    `data dir ${dataDir} is in use by another Tessera process${who}. One process at a time runs on an embedded data dir: stop that one first, or send the work to it over HTTP (e.g. tessera import --server URL).`,
  );
}

function readHolder(dataDir: string): Holder | undefined {
  try {
    const h = JSON.parse(readFileSync(join(dataDir, LOCK_HOLDER_FILE), 'utf8')) as Partial<Holder>;
    return typeof h.pid === 'number' && typeof h.host === 'string' && typeof h.since === 'string' ? (h as Holder) : undefined;
  } catch {
    return undefined;
  }
}
