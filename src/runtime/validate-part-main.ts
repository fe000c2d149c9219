import { parentPort, workerData } from 'node:worker_threads';
import { InstanceCatalog } from '../pipelines/ingest/catalog.js';
import { FileError } from '../pipelines/batch/read-rows.js';
import { validatePart, type ValidatePartTask } from '../pipelines/batch/validate-part.js';

/** A thread that validates one part of a batch's file and answers with its errors (or why it could not be read). */
const task = workerData as ValidatePartTask;
validatePart(task, InstanceCatalog.fromSource(task.catalog)).then(
  (result) => parentPort!.postMessage({ ok: true, result }),
  (err: unknown) => parentPort!.postMessage({ ok: false, message: err instanceof Error ? err.message : String(err), fileError: err instanceof FileError }),
);
