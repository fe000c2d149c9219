import type { Clock } from '../../domain/clock.js';
import { newId } from '../../domain/ids.js';
import type { JsonValue } from '../../domain/json-path.js';
import type { FailedRecord } from '../../ports/profile-store.js';
import type { Committer } from '../apply/committer.js';
import type { InstanceCatalog } from './catalog.js';
import { parseMessage } from './parse-message.js';
import { prepareRecord, type Violation } from './prepare-record.js';
import type { PreparedRecord, Receipt } from '../records.js';

/** Records refused outright (answered with an error, not kept): they break limits, not the schema. */
const LIMIT_ERRORS: ReadonlySet<string> = new Set(['record_too_large', 'record_not_object', 'record_too_deep']);

const PREPARE_SLICE = 100;

export interface MessageResult {
  index: number;
  status: number;
  recordId?: string;
  datasetId?: string;
  error?: { code: string; message: string; details?: Violation[] };
}

export interface IngestOptions {
  receipt: Receipt;
  /** The dataset named by the URL (single endpoint); a message's own must agree. */
  datasetFromPath?: string;
  syncValidation: boolean;
  /** True when the whole body is at most the record limit, so no record can exceed it. */
  smallBody: boolean;
}

/**
 * Streaming ingestion: each message is parsed and validated on its own (a bad one never blocks
 * the others), the valid records and the failed ones are committed together, and the answer
 * comes once they are durable.
 */
export class IngestService {
  constructor(
    private readonly committer: Committer,
    private readonly clock: Clock,
  ) {}

  async ingest(catalog: InstanceCatalog, messages: readonly JsonValue[], options: IngestOptions): Promise<MessageResult[]> {
    const results: MessageResult[] = [];
    // The request's place in the commit order is taken on arrival, before it is prepared.
    const commit = options.syncValidation ? undefined : this.committer.reserve();
    const records: PreparedRecord[] = [];
    const failed: FailedRecord[] = [];
    const prepareOne = (message: JsonValue, index: number): void => {
      const parsed = parseMessage(message);
      if (!parsed.ok) {
        results.push({ index, status: 400, error: { code: parsed.code, message: parsed.message } });
        return;
      }
      const ref = options.datasetFromPath ?? parsed.datasetRef;
      if (options.datasetFromPath && parsed.datasetRef && parsed.datasetRef !== options.datasetFromPath) {
        const d = catalog.dataset(parsed.datasetRef);
        if (!d || d.id !== catalog.dataset(options.datasetFromPath)?.id) {
          results.push({ index, status: 400, error: { code: 'dataset_mismatch', message: `the message names dataset ${parsed.datasetRef} but was sent to ${options.datasetFromPath}` } });
          return;
        }
      }
      if (!ref) {
        results.push({ index, status: 400, error: { code: 'dataset_required', message: 'the message names no dataset (header.datasetId or datasetId)' } });
        return;
      }
      const dataset = catalog.dataset(ref);
      if (!dataset) {
        results.push({ index, status: 404, error: { code: 'dataset_not_found', message: `dataset ${ref} does not exist in this instance` } });
        return;
      }
      const recordId = newId();
      const prepared = prepareRecord({
        catalog,
        dataset,
        raw: parsed.record,
        recordId,
        receipt: options.receipt,
        ...(options.smallBody ? { sizeHint: 0 } : {}),
      });
      if (prepared.ok) {
        records.push(prepared.record);
        results.push({ index, status: 200, recordId, datasetId: dataset.id });
        return;
      }
      const error = { code: prepared.code, message: prepared.message, ...(prepared.violations.length > 0 ? { details: prepared.violations } : {}) };
      if (options.syncValidation || LIMIT_ERRORS.has(prepared.code)) {
        results.push({ index, status: prepared.code === 'record_too_large' ? 413 : 400, datasetId: dataset.id, error });
        return;
      }
      failed.push({
        id: recordId,
        datasetId: dataset.id,
        requestId: options.receipt.requestId,
        receivedAt: options.receipt.receivedAt,
        record: parsed.record,
        errors: prepared.violations.length > 0 ? prepared.violations : [{ path: '/', keyword: prepared.code, message: prepared.message }],
      });
      results.push({ index, status: 200, recordId, datasetId: dataset.id });
    };
    // Large batches are prepared in slices, yielding between them, so that reads and small
    // requests are not held up behind one big batch on the event loop.
    try {
      for (let start = 0; start < messages.length; start += PREPARE_SLICE) {
        if (start > 0) await new Promise<void>((resolve) => setImmediate(resolve));
        const end = Math.min(messages.length, start + PREPARE_SLICE);
        for (let i = start; i < end; i++) prepareOne(messages[i]!, i);
      }
    } catch (err) {
      // Give the reserved place up, or every later request would wait behind it.
      void commit?.({ instanceId: catalog.instance.id, records: [], failed: [] });
      throw err;
    }
    if (options.syncValidation && results.some((r) => r.status >= 400)) return results;
    const work = { instanceId: catalog.instance.id, records, failed, catalogVersion: catalog.version };
    if (commit) await commit(work);
    else if (records.length > 0 || failed.length > 0) await this.committer.submit(work);
    return results;
  }

  now(): number {
    return this.clock.now();
  }
}
