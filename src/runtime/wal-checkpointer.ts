import type { Worker } from 'node:worker_threads';
import { spawnWorker } from './spawn-worker.js';

export interface WalCheckpointerData {
  dbFile: string;
  /** Pages waiting in the WAL from which a checkpoint is run. */
  minFrames: number;
  pollMs: number;
  /** Quiet time (nothing committed) after which the WAL is copied back whole and truncated. */
  idleMs: number;
}

/**
 * Checkpoints the embedded state database's WAL on a thread of its own, so that the writer thread
 * never stops for one. A checkpoint of the writer's own (SQLite's automatic one) copies the WAL
 * into the database file and then waits for the disk to sync it: in `bench:ingest`'s batch phase
 * (300,000 people) that wait was most of the time the writer spent off the CPU. The writer
 * keeps a checkpoint of its own only at a larger WAL (see `openDatabase`), where it restarts the
 * WAL and has little left to copy. After `idleMs` without a commit the WAL is truncated.
 */
export class WalCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;

  constructor(dbFile: string, options: { minFrames?: number; pollMs?: number; idleMs?: number } = {}) {
    this.worker = spawnWorker('wal-checkpointer-main', { dbFile, minFrames: options.minFrames ?? 16384, pollMs: options.pollMs ?? 50, idleMs: options.idleMs ?? 5_000 } satisfies WalCheckpointerData);
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    // A thread that fails leaves the writer's own checkpoint to bound the WAL: nothing is lost.
    this.worker.on('error', () => undefined);
  }

  /** Stops checkpointing and closes the thread's connection (before the writer closes its own, which checkpoints the rest). */
  close(): Promise<void> {
    this.worker.postMessage('close');
    return this.exited;
  }
}
