import type { PartErrors } from '../pipelines/batch/prepare-row.js';
import { FileError } from '../pipelines/batch/read-rows.js';
import type { ValidatePartTask } from '../pipelines/batch/validate-part.js';
import { spawnWorker } from './spawn-worker.js';

type Answer = { ok: true; result: PartErrors } | { ok: false; message: string; fileError: boolean };

/** Validates a part of a batch's file on a thread of its own (started for it, ended after). */
export function validatePartOnWorker(task: ValidatePartTask): Promise<PartErrors> {
  return new Promise((resolve, reject) => {
    const worker = spawnWorker('validate-part-main', task);
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      fn();
      void worker.terminate();
    };
    worker.once('message', (m: Answer) => settle(() => (m.ok ? resolve(m.result) : reject(m.fileError ? new FileError(m.message) : new Error(m.message)))));
    worker.once('error', (err) => settle(() => reject(err)));
    worker.once('exit', (code) => settle(() => reject(new Error(`the validation thread exited (code ${code}) before it answered`))));
  });
}
