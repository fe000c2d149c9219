import Database from 'better-sqlite3';
import { closeSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { WalCheckpointerData } from './wal-checkpointer.js';

/**
 * The checkpointer thread: once `minFrames` pages that the writer committed to the state
 * database's WAL wait to be copied back into the database file, it copies them, PASSIVE (it
 * neither waits for the writer nor holds it up). With `synchronous = NORMAL` a checkpoint syncs the
 * WAL before the copy and the database file after it; those syncs wait on the disk here, not on
 * the writer thread.
 *
 * How many pages wait is read from the WAL index (the `-shm` file) every `pollMs`: its header holds
 * the last frame committed (`mxFrame`, bytes 16-19) and its checkpoint information the last frame
 * copied back (`nBackfill`, bytes 96-99), in the machine's byte order
 * (https://www.sqlite.org/walformat.html). Reading it takes no lock and costs one `pread`.
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
const header = Buffer.alloc(100);
const u32 = endianness() === 'LE' ? (at: number) => header.readUInt32LE(at) : (at: number) => header.readUInt32BE(at);

/** The WAL's frames: the last committed (`mxFrame`) and how many of them wait to be copied back (0 and 0 while the WAL index is not there to read). */
function frames(): { last: number; waiting: number } {
  if (readSync(shm, header, 0, header.length, 0) < header.length) return { last: 0, waiting: 0 };
  return { last: u32(16), waiting: Math.max(0, u32(16) - u32(96)) };
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
