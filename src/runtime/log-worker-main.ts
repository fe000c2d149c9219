import { parentPort, workerData } from 'node:worker_threads';
import { startLogWorker, type LogWorkerOptions } from './log-worker.js';
import type { FromLogWorkerThread, ToLogWorkerThread } from './log-worker-thread.js';

/** The thread of `tessera worker` (see log-worker-thread.ts): runs the log worker and closes it when told. */
const port = parentPort!;
const send = (m: FromLogWorkerThread): void => port.postMessage(m);
const options = workerData as Omit<LogWorkerOptions, 'onError' | 'clock'>;
try {
  const worker = await startLogWorker({
    ...options,
    onError: (err, where) => process.stderr.write(`worker: ${where}: ${err instanceof Error ? err.message : String(err)}\n`),
  });
  port.on('message', (m: ToLogWorkerThread) => {
    if (m.type !== 'close') return;
    worker.close().then(
      () => {
        send({ type: 'closed' });
        port.close();
      },
      (err: unknown) => send({ type: 'failed', message: err instanceof Error ? err.message : String(err) }),
    );
  });
  send({ type: 'started', id: worker.status().id, ...(worker.url ? { url: worker.url } : {}) });
} catch (err) {
  send({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
}
