import { spawnWorker } from './spawn-worker.js';
import type { LogWorkerOptions } from './log-worker.js';

export type ToLogWorkerThread = { type: 'close' };
export type FromLogWorkerThread = { type: 'started'; id: string; url?: string } | { type: 'closed' } | { type: 'failed'; message: string };

/**
 * Semi-spaces of 32 MB (16 on Node 20 by default): a group's records and its statements'
 * parameters live through its whole transaction, and each scavenge in between copied them.
 * V8 takes the size only when an isolate starts, so `tessera worker` runs its log worker on a
 * thread made with it (the process's own flags would need `NODE_OPTIONS`).
 */
const LOG_WORKER_RESOURCE_LIMITS = { maxYoungGenerationSizeMb: 96 };

export interface LogWorkerThread {
  id: string;
  url: string | undefined;
  /** Resolves when the thread ends by itself (an error it could not go on after): with why. */
  ended: Promise<string>;
  /** Stops the log worker (the group in hand is finished) and ends the thread. */
  close(): Promise<void>;
}

/** `tessera worker`: the log worker (see log-worker.ts) on a thread of its own, with a larger young generation. */
export function startLogWorkerThread(options: Omit<LogWorkerOptions, 'onError' | 'clock'>): Promise<LogWorkerThread> {
  const thread = spawnWorker('log-worker-main', options, LOG_WORKER_RESOURCE_LIMITS);
  let closing: { resolve: () => void; reject: (err: Error) => void } | undefined;
  let closed: Promise<void> | undefined;
  // Only an end that nobody asked for: after `close`, the thread's exit is the expected one.
  const ended = new Promise<string>((resolve) => {
    thread.on('error', (err) => closing ?? resolve(err.message));
    thread.on('exit', (code) => closing ?? resolve(`the worker thread exited (code ${code})`));
  });
  const exited = new Promise<void>((resolve) => thread.on('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    let started = false;
    thread.on('message', (m: FromLogWorkerThread) => {
      if (m.type === 'started') {
        started = true;
        resolve({
          id: m.id,
          url: m.url,
          ended,
          close: () =>
            (closed ??= new Promise<void>((res, rej) => {
              closing = { resolve: res, reject: rej };
              thread.postMessage({ type: 'close' } satisfies ToLogWorkerThread);
            })),
        });
      } else if (m.type === 'closed') {
        closing?.resolve();
        void thread.terminate();
      } else if (!started) {
        reject(new Error(m.message));
        void thread.terminate();
      } else closing?.reject(new Error(m.message));
    });
    void ended.then((why) => reject(new Error(why)));
    // A thread that ends while closing (an error on the way out) still counts as closed.
    void exited.then(() => closing?.resolve());
  });
}
