import Database from 'better-sqlite3';
import { closeSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type { WalCheckpointerData } from './wal-checkpointer.js';
import { WAL_INDEX_HEADER_BYTES, walIndexFrames } from '../storage/sqlite/wal-index.js';

/**
 * The checkpointer thread: once `minFrames` pages that the writer committed to the state
 * database's WAL wait to be copied back into the database file, it copies them, PASSIVE (it
 * neither waits for the writer nor holds it up). With `synchronous = NORMAL` a checkpoint syncs the
 * WAL before the copy and the database file after it; those syncs wait on the disk here, not on
 * the writer thread.
 *
 * How many pages wait is read from the WAL index's header (the `-shm` file; `walIndexFrames`) every
 * `pollMs`. Reading it takes no lock and costs one `pread`.
 */
const { dbFile, minFrames, pollMs, idleMs } = workerData as WalCheckpointerData;
const port = parentPort!;
const db = new Database(dbFile);
db.pragma('synchronous = NORMAL');
// Its own writes never reach the WAL: this connection only checkpoints.
db.pragma('wal_autocheckpoint = 0');
// A TRUNCATE checkpoint takes the write lock: it gives up at once rather than hold the writer up.
db.pragma('busy_timeout = 0');
const shm = openSync(`${dbFile}-shm`, 'r');
const header = Buffer.alloc(WAL_INDEX_HEADER_BYTES);

/** The WAL's frames: the last committed (`mxFrame`) and how many of them wait to be copied back (0 and 0 while the WAL index is not there to read). */
function frames(): { last: number; waiting: number } {
  if (readSync(shm, header, 0, header.length, 0) < header.length) return { last: 0, waiting: 0 };
  const { last, copied } = walIndexFrames(header);
  return { last, waiting: Math.max(0, last - copied) };
}

/**
 * Once nothing has been committed for `idleMs`, the WAL is copied back whole and truncated to
 * nothing (TRUNCATE), so that a quiet store does not keep a WAL of up to 256 MB on disk. Busy (the
 * writer or a reader on an older snapshot): tried again after another quiet spell.
 */
let lastFrame = 0;
let quietSince = Date.now();
let truncated = true;
const timer = setInterval(() => {
  try {
    const { last, waiting } = frames();
    const now = Date.now();
    if (last !== lastFrame) {
      lastFrame = last;
      quietSince = now;
      truncated = last === 0;
    }
    if (waiting >= minFrames) db.pragma('wal_checkpoint(PASSIVE)');
    else if (!truncated && now - quietSince >= idleMs) {
      const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
      if (result?.busy === 0) truncated = true;
      else quietSince = now;
    }
  } catch {
    // An I/O error: tried again on the next tick; the writer's own checkpoint stays the backstop.
  }
}, pollMs);
port.on('message', (m: 'close') => {
  if (m !== 'close') return;
  clearInterval(timer);
  closeSync(shm);
  db.close();
  port.close();
});
