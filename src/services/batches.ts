import { createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { Clock } from '../domain/clock.js';
import { conflict, invalid, notFound } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import { rowCoercer } from '../domain/schema/coerce.js';
import type { Batch, BatchFormat, BatchStore, CsvOptions, RowError } from '../ports/batch-store.js';
import type { Committer } from '../pipelines/apply/committer.js';
import { splitInTwo } from '../pipelines/batch/file-parts.js';
import { prepareRow, VALIDATING_ID, type PartErrors, type RowContext } from '../pipelines/batch/prepare-row.js';
import { FileError, readRows } from '../pipelines/batch/read-rows.js';
import { validatePart, type ValidatePartElsewhere, type ValidatePartTask } from '../pipelines/batch/validate-part.js';
import type { Catalog, InstanceCatalog } from '../pipelines/ingest/catalog.js';
import type { PreparedRecord } from '../pipelines/records.js';
import { BatchProgress } from './batch-progress.js';
import type { ClusterLock } from '../ports/cluster-lock.js';

const FILE_NAME = /^[A-Za-z0-9._-]{1,200}$/;
const APPLY_CHUNK = 2000;
/** A chunk also ends at this many characters of record JSON, so that wide rows do not make chunks of many megabytes (each is held a few times over until applied). */
const APPLY_CHUNK_CHARS = 512 * 1024;
const APPLY_IN_FLIGHT = 3;
const MAX_STORED_ERRORS = 10_000;
/** Row errors written to the store in one transaction. */
const ERRORS_PER_WRITE = 500;
/** How often a running batch's counts are written to the store (this node serves them live). */
const PROGRESS_PERSIST_MS = 2000;
/**
 * How long a batch may stay `processing` with no node processing it and its files on none that
 * looks before it is failed: long enough for its node to be started again and take it up.
 */
export const ORPHANED_BATCH_GRACE_MS = 10 * 60_000;
/** A file at least this large is validated in two parts side by side (when the service is given somewhere to run the second). */
const SPLIT_FROM_BYTES = 8 * 1024 * 1024;

export interface CreateBatchInput {
  datasetId: string;
  format: BatchFormat;
  errorThreshold?: number;
  mapping?: Record<string, string>;
  csv?: Partial<CsvOptions>;
  caller?: string | null;
}

/** A batch's row errors: counted, and the first ones stored; `addPart`: a part's (its rows after `rowOffset` rows of the file). */
interface ErrorKeeper {
  readonly count: number;
  keep(errors: RowError[]): Promise<void>;
  addPart(part: PartErrors, rowOffset: number): Promise<void>;
  flush(): Promise<void>;
}

/**
 * Batch ingestion (Adobe-style): create a batch for a dataset, upload files as streams, complete
 * it; it is then validated (pass 1, every row error kept) and, if its failed rows stay within the
 * threshold, applied through the same pipeline as streaming (pass 2), in bulk. A batch whose
 * threshold is 100% cannot fail as a whole, so it is read once: each row validated and, if good,
 * applied. Files are streamed from disk in every pass, so memory does not grow with their size.
 */
export class BatchService {
  private readonly running = new Map<string, Promise<void>>();
  private readonly progress: BatchProgress;
  /** Batches in `processing` that no node processes and whose files are not here: since when this node has seen them so. */
  private readonly orphanedSince = new Map<string, number>();
  /** Files validated (pass 1): whole, in two parts side by side, or whole after the parts could not be (a quoted value across the split). */
  readonly validatedFiles = { whole: 0, split: 0, fallback: 0 };

  /**
   * `validatePartElsewhere`: where the second part of a large CSV or NDJSON file is validated
   * (a thread of its own) while this thread validates the first; without it, files are validated whole.
   */
  constructor(private readonly deps: { store: BatchStore; catalog: Catalog; committer: Committer; clock: Clock; dir: string; lock: ClusterLock; validatePartElsewhere?: ValidatePartElsewhere }) {
    this.progress = new BatchProgress(deps.store, deps.clock, PROGRESS_PERSIST_MS);
  }

  private async catalogOf(instanceId: string): Promise<InstanceCatalog> {
    const c = await this.deps.catalog.get(instanceId);
    if (!c) throw notFound('instance_not_found', `instance ${instanceId} does not exist`);
    return c;
  }

  async create(instanceId: string, input: CreateBatchInput): Promise<Batch> {
    const catalog = await this.catalogOf(instanceId);
    const dataset = catalog.dataset(input.datasetId);
    if (!dataset) throw invalid('dataset_not_found', `datasetId ${input.datasetId} does not name a dataset of this instance`);
    const csv: CsvOptions = { delimiter: input.csv?.delimiter ?? ',', quote: input.csv?.quote ?? '"', trim: input.csv?.trim ?? true };
    const batch: Batch = {
      instanceId,
      id: newId(),
      datasetId: dataset.id,
      format: input.format,
      status: 'loading',
      errorThreshold: input.errorThreshold ?? 5,
      // The dataset's stored mapping, with the batch's own laid over it.
      options: { mapping: { ...dataset.columnMapping, ...(input.mapping ?? {}) }, requiredColumns: Object.keys(input.mapping ?? {}), csv, caller: input.caller ?? null },
      files: [],
      rowsRead: 0,
      rowsApplied: 0,
      rowsFailed: 0,
      message: null,
      createdAt: this.deps.clock.now(),
      completedAt: null,
      startedAt: null,
      finishedAt: null,
    };
    await this.deps.store.create(batch);
    return batch;
  }

  async get(instanceId: string, id: string): Promise<Batch> {
    const b = this.progress.of(instanceId, id) ?? (await this.deps.store.get(instanceId, id));
    if (!b) throw notFound('batch_not_found', `batch ${id} does not exist`);
    return b;
  }

  async list(instanceId: string, datasetId: string | undefined, limit: number): Promise<Batch[]> {
    return (await this.deps.store.list(instanceId, datasetId, limit)).map((b) => this.progress.of(instanceId, b.id) ?? b);
  }

  errors(instanceId: string, id: string, limit: number, offset: number): Promise<RowError[]> {
    return this.deps.store.errors(instanceId, id, limit, offset);
  }

  private fileDir(b: Batch): string {
    return join(this.deps.dir, b.instanceId, b.id);
  }

  /** Stores an uploaded file as it streams in. */
  async upload(instanceId: string, id: string, fileName: string, body: Readable): Promise<Batch> {
    const b = await this.get(instanceId, id);
    if (b.status !== 'loading') throw invalid('batch_not_loading', `batch ${id} is ${b.status}; files can be added only while it is loading`);
    if (!FILE_NAME.test(fileName)) throw invalid('invalid_file_name', 'a file name has 1-200 letters, digits, dots, dashes and underscores');
    await mkdir(this.fileDir(b), { recursive: true });
    const path = join(this.fileDir(b), fileName);
    await pipeline(body, createWriteStream(path));
    const bytes = (await stat(path)).size;
    const files = [...b.files.filter((f) => f.name !== fileName), { name: fileName, bytes }];
    const next = { ...b, files };
    await this.deps.store.update(next);
    return next;
  }

  /** Ends the upload; processing starts in the background (poll the batch for its status). */
  async complete(instanceId: string, id: string): Promise<Batch> {
    const b = await this.get(instanceId, id);
    if (b.status !== 'loading') throw invalid('batch_not_loading', `batch ${id} is already ${b.status}`);
    if (b.files.length === 0) throw invalid('batch_empty', 'upload at least one file before completing the batch');
    if (!(await this.filesPresent(b))) {
      throw conflict(
        'batch_files_elsewhere',
        `batch ${id}'s files are not all in this node's data dir: they were uploaded through another API node. Complete the batch through the node that took them, or give the API nodes one shared data dir`,
      );
    }
    const next: Batch = { ...b, status: 'processing', completedAt: this.deps.clock.now() };
    await this.deps.store.update(next);
    await this.startProcessing(next);
    return next;
  }

  /**
   * Processes, in the background, a batch that is `processing` and that no one else is processing
   * (it holds the batch's cluster lock meanwhile); false when someone is.
   */
  private async startProcessing(b: Batch): Promise<boolean> {
    const key = `${b.instanceId}/${b.id}`;
    if (this.running.has(key)) return false;
    const release = await this.deps.lock.tryAcquire(`batch/${key}`);
    if (!release) return false;
    // Failed meanwhile by a node that saw it orphaned (resumeInterrupted): not taken up again.
    if ((await this.deps.store.get(b.instanceId, b.id))?.status !== 'processing') {
      await release();
      return false;
    }
    const run = this.process(b)
      .catch(async (err: unknown) => {
        await this.deps.store.update({ ...b, status: 'failed', message: `processing failed: ${err instanceof Error ? err.message : String(err)}`, finishedAt: this.deps.clock.now() });
      })
      .finally(async () => {
        this.running.delete(key);
        this.progress.end(b.instanceId, b.id);
        await release();
      });
    this.running.set(key, run);
    return true;
  }

  /**
   * Processes again, from their files, the batches left in `processing` by a node that stopped
   * (a crash, a kill) before it finished them; returns how many it took up. A completed batch was
   * acknowledged, so it is never left unfinished. The rows its committed transactions applied are
   * not applied again (see `applyRows`). Only those of the groups that were at the writer when the
   * node stopped (in the lake, not committed: applied at start from the lake) are applied once
   * more, which changes nothing unless a newer record of the same person came in those last
   * milliseconds, and the lake holds them twice, which a rebuild reads to the same state.
   *
   * A node keeps a batch's files in its own data dir: only a node that sees them (the same node
   * started again, or one sharing the dir) can take the batch up. One that no node processes and
   * whose files are not here is failed once this node has seen it so for ORPHANED_BATCH_GRACE_MS.
   */
  async resumeInterrupted(): Promise<number> {
    let resumed = 0;
    const processing = await this.deps.store.processing();
    const keys = new Set(processing.map((b) => `${b.instanceId}/${b.id}`));
    for (const key of this.orphanedSince.keys()) if (!keys.has(key)) this.orphanedSince.delete(key);
    for (const b of processing) {
      if (!(await this.filesPresent(b))) {
        await this.failIfOrphaned(b);
        continue;
      }
      const again: Batch = { ...b, rowsRead: 0, rowsApplied: 0, rowsFailed: 0, startedAt: null, message: null };
      if (await this.startProcessing(again)) resumed++;
    }
    return resumed;
  }

  /** A batch whose files are elsewhere: failed if no node has processed it for the grace period (its lock free every time this node looked). */
  private async failIfOrphaned(b: Batch): Promise<void> {
    const key = `${b.instanceId}/${b.id}`;
    const release = await this.deps.lock.tryAcquire(`batch/${key}`);
    if (!release) {
      this.orphanedSince.delete(key); // a node is processing it
      return;
    }
    try {
      const now = this.deps.clock.now();
      const since = this.orphanedSince.get(key);
      if (since === undefined) this.orphanedSince.set(key, now);
      if (since === undefined || now - since < ORPHANED_BATCH_GRACE_MS) return;
      this.orphanedSince.delete(key);
      const current = await this.deps.store.get(b.instanceId, b.id);
      if (current?.status !== 'processing') return;
      await this.deps.store.update({
        ...current,
        status: 'failed',
        message: `the node that holds this batch's files stopped before it finished and no node has taken it up for ${ORPHANED_BATCH_GRACE_MS / 60_000} minutes; rows it applied stay applied; upload the files again in a new batch`,
        finishedAt: now,
      });
    } finally {
      await release();
    }
  }

  private async filesPresent(b: Batch): Promise<boolean> {
    const found = await Promise.all(b.files.map((f) => stat(join(this.fileDir(b), f.name)).then(() => true, () => false)));
    return found.every(Boolean);
  }

  /** Resolves when the batches being processed are done (tests, shutdown). */
  async idle(): Promise<void> {
    await Promise.all([...this.running.values()]);
  }

  private rowContext(b: Batch, catalog: InstanceCatalog): RowContext {
    const dataset = catalog.datasetsById.get(b.datasetId)!;
    return { catalog, datasetId: b.datasetId, batchId: b.id, caller: b.options.caller, coerce: rowCoercer(catalog.schemaOf(dataset).jsonSchema, b.options.mapping), now: () => this.deps.clock.now() };
  }

  /** Every row of the batch's files, prepared (pass 2, or the one pass of a batch that cannot fail as a whole). */
  private async *prepared(b: Batch, catalog: InstanceCatalog): AsyncGenerator<{ file: string; row: number; record?: PreparedRecord; errors?: RowError[] }> {
    const ctx = this.rowContext(b, catalog);
    for (const file of b.files) {
      for await (const row of readRows(join(this.fileDir(b), file.name), b.format, b.options.csv, b.options.mapping, b.options.requiredColumns)) {
        const { record, errors } = prepareRow(ctx, file.name, row, newId());
        yield { file: file.name, row: row.row, record, errors };
      }
    }
  }

  /**
   * Pass 1 over one file: every row validated, its errors kept. A large
   * CSV or NDJSON file is validated in two parts side by side (this thread and another); if the
   * parts cannot be read as rows (the split fell inside a quoted value, or the file is broken),
   * the file is validated whole, so that the outcome is always the whole file's. `read.rows`
   * counts the rows read (of a file that breaks, those before the break).
   */
  private async validateFile(b: Batch, catalog: InstanceCatalog, fileName: string, bad: ErrorKeeper, read: { rows: number }): Promise<void> {
    const path = join(this.fileDir(b), fileName);
    const elsewhere = this.deps.validatePartElsewhere;
    const parts = elsewhere ? await splitInTwo(path, b.format, b.options.csv, SPLIT_FROM_BYTES) : undefined;
    if (parts) {
      const task = (part: ValidatePartTask['part']): ValidatePartTask => ({
        path,
        fileName,
        format: b.format,
        csv: b.options.csv,
        mapping: b.options.mapping,
        ...(b.options.requiredColumns ? { required: b.options.requiredColumns } : {}),
        part,
        catalog: catalog.source,
        datasetId: b.datasetId,
        batchId: b.id,
        caller: b.options.caller,
        now: this.deps.clock.now(),
        keep: MAX_STORED_ERRORS,
      });
      const [first, second] = await Promise.allSettled([validatePart(task(parts[0]), catalog), elsewhere!(task(parts[1]))]);
      if (first.status === 'fulfilled' && second.status === 'fulfilled') {
        this.validatedFiles.split++;
        await bad.addPart(first.value, 0);
        await bad.addPart(second.value, first.value.rows);
        read.rows += first.value.rows + second.value.rows;
        return;
      }
      this.validatedFiles.fallback++;
    } else this.validatedFiles.whole++;
    const ctx = this.rowContext(b, catalog);
    for await (const row of readRows(path, b.format, b.options.csv, b.options.mapping, b.options.requiredColumns)) {
      read.rows++;
      const { errors } = prepareRow(ctx, fileName, row, VALIDATING_ID);
      if (errors) await bad.keep(errors);
    }
  }

  private async process(start: Batch): Promise<void> {
    const catalog = await this.catalogOf(start.instanceId);
    let b: Batch = { ...start, startedAt: this.deps.clock.now() };
    await this.deps.store.update(b);
    // A batch that cannot fail as a whole (a threshold of 100%) needs no validating pass: it is read once.
    if (b.errorThreshold >= 100) return this.processInOnePass(b, catalog);
    // Pass 1: validate every row and keep the errors.
    const read = { rows: 0 };
    const bad = this.errorKeeper(b);
    try {
      for (const file of b.files) await this.validateFile(b, catalog, file.name, bad, read);
    } catch (err) {
      if (!(err instanceof FileError)) throw err;
      await bad.flush();
      await this.deps.store.update({ ...b, status: 'failed', rowsRead: read.rows, rowsFailed: bad.count, message: err.message, finishedAt: this.deps.clock.now() });
      return;
    }
    const rows = read.rows;
    await bad.flush();
    const failed = bad.count;
    b = { ...b, rowsRead: rows, rowsFailed: failed };
    const percent = rows === 0 ? 0 : (failed / rows) * 100;
    if (percent > b.errorThreshold) {
      await this.deps.store.update({
        ...b,
        status: 'failed',
        message: `${failed} of ${rows} rows failed (${percent.toFixed(1)}%), over the error threshold of ${b.errorThreshold}%; nothing was applied`,
        finishedAt: this.deps.clock.now(),
      });
      return;
    }
    await this.deps.store.update(b);
    // Pass 2: apply the good rows, in bulk, through the same pipeline as streaming.
    const { applied, fileError } = await this.applyRows(b, catalog, () => b);
    // The file was read whole in pass 1: one that breaks now has changed underneath (the batch fails).
    if (fileError) throw fileError;
    await this.finish({ ...b, rowsApplied: applied });
  }

  /** Threshold 100%: every row read, validated and (if good) applied in the one pass; its errors kept as it goes. */
  private async processInOnePass(start: Batch, catalog: InstanceCatalog): Promise<void> {
    const bad = this.errorKeeper(start);
    const progress = (rows: number): Batch => ({ ...start, rowsRead: rows, rowsFailed: bad.count });
    const result = await this.applyRows(start, catalog, progress, (errors) => bad.keep(errors));
    await bad.flush();
    if (result.fileError === undefined) {
      await this.finish({ ...progress(result.rows), rowsApplied: result.applied });
      return;
    }
    // The file broke after some rows were applied: they stay (the batch could not fail as a whole), and the status says so.
    await this.deps.store.update({
      ...progress(result.rows),
      rowsApplied: result.applied,
      status: result.applied > 0 ? 'partial' : 'failed',
      message: result.rows === 0 ? result.fileError.message : `${result.fileError.message}; reading stopped after row ${result.rows}, and the ${result.applied} good rows before it were applied`,
      finishedAt: this.deps.clock.now(),
    });
  }

  /**
   * The row errors of a batch: counted, and stored (up to MAX_STORED_ERRORS) in row order, a few
   * hundred to a write; `flush` stores what is left.
   */
  private errorKeeper(b: Batch): ErrorKeeper {
    let count = 0;
    let seq = 0;
    let pending: RowError[] = [];
    const store = this.deps.store;
    const flush = async (): Promise<void> => {
      if (pending.length === 0) return;
      const errors = pending;
      pending = [];
      await store.addErrors(b.instanceId, b.id, seq, errors);
      seq += errors.length;
    };
    return {
      get count() {
        return count;
      },
      async keep(errors) {
        count++;
        if (seq + pending.length >= MAX_STORED_ERRORS) return;
        pending.push(...errors);
        if (pending.length >= ERRORS_PER_WRITE) await flush();
      },
      async addPart(part, rowOffset) {
        for (const errors of part.errors) await this.keep(rowOffset === 0 ? errors : errors.map((e) => ({ ...e, row: e.row + rowOffset })));
        count += part.badRows - part.errors.length;
      },
      flush,
    };
  }

  /**
   * Applies the good rows in bulk through the same pipeline as streaming. Chunks are submitted in
   * order with a few in flight, so that preparing the next chunk overlaps the commit of the
   * previous ones (the committer keeps their order); after each, the batch as `progress` gives it
   * is stored with the rows applied so far. `onBad` hears of each bad row. A file that breaks
   * midway ends the reading (`fileError`) after what was submitted is applied.
   *
   * Each chunk's transaction also stores the row of the files it reaches (`batchRows`). A batch
   * taken up again after a crash reads its rows from the start but submits none through that row:
   * they were applied, and applying them again would put them after records of the same people
   * that came in since (and in the lake a second time). Its good rows there count as applied.
   */
  private async applyRows(
    b: Batch,
    catalog: InstanceCatalog,
    progress: (rowsRead: number) => Batch,
    onBad?: (errors: RowError[]) => Promise<void>,
  ): Promise<{ rows: number; applied: number; fileError?: FileError }> {
    const appliedThrough = await this.deps.store.appliedThroughRow(b.instanceId, b.id);
    let rows = 0;
    let applied = 0;
    let chunk: PreparedRecord[] = [];
    let chunkChars = 0;
    const inFlight: Array<Promise<void>> = [];
    const flush = async (): Promise<void> => {
      const records = chunk;
      chunk = [];
      chunkChars = 0;
      inFlight.push(
        this.deps.committer.submit({ instanceId: b.instanceId, records, failed: [], batchRows: { batchId: b.id, through: rows } }).then(async () => {
          applied += records.length;
          await this.progress.report({ ...progress(rows), rowsApplied: applied });
        }),
      );
      if (inFlight.length >= APPLY_IN_FLIGHT) await inFlight.shift();
    };
    let fileError: FileError | undefined;
    try {
      for await (const r of this.prepared(b, catalog)) {
        rows++;
        if (!r.record) {
          if (r.errors) await onBad?.(r.errors);
          continue;
        }
        if (rows <= appliedThrough) {
          applied++;
          continue;
        }
        chunk.push(r.record);
        chunkChars += r.record.rawJson.length;
        if (chunk.length >= APPLY_CHUNK || chunkChars >= APPLY_CHUNK_CHARS) await flush();
      }
    } catch (err) {
      if (!(err instanceof FileError)) throw err;
      fileError = err;
    }
    if (chunk.length > 0) await flush();
    await Promise.all(inFlight);
    return { rows, applied, ...(fileError ? { fileError } : {}) };
  }

  /** The batch's end once its good rows are applied: success, or partial with what failed; its files are let go. */
  private async finish(b: Batch): Promise<void> {
    const failed = b.rowsFailed;
    const percent = b.rowsRead === 0 ? 0 : (failed / b.rowsRead) * 100;
    await this.deps.store.update({
      ...b,
      status: failed === 0 ? 'success' : 'partial',
      message: failed === 0 ? null : `${failed} of ${b.rowsRead} rows failed (${percent.toFixed(1)}%); the others were applied`,
      finishedAt: this.deps.clock.now(),
    });
    await rm(this.fileDir(b), { recursive: true, force: true });
  }
}
