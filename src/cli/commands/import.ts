import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { batchView } from '../../http/routes/batches.js';
import type { Tessera } from '../../runtime/tessera.js';
import type { CreateBatchInput } from '../../services/batches.js';
import type { BatchFormat } from '../../ports/batch-store.js';
import { call, failure, reach, serverOf } from './server-call.js';
import { local, targetOptions, type TargetFlags } from './target.js';

interface ImportFlags extends TargetFlags {
  dataset: string;
  format?: string;
  map: string[];
  errorThreshold?: string;
  delimiter?: string;
  progress: boolean;
}

type BatchView = ReturnType<typeof batchView>;
type RowErrorView = { row: number; value: string | null; message: string };

/** What an import needs of a batch API: a running server's, or the services on the data dir. */
interface BatchTarget {
  create(input: CreateBatchInput): Promise<BatchView>;
  upload(id: string, fileName: string, body: Readable): Promise<void>;
  complete(id: string): Promise<void>;
  get(id: string): Promise<BatchView>;
  firstErrors(id: string): Promise<RowErrorView[]>;
}

function serverTarget(server: string, key: string, instance: string): BatchTarget {
  const base = `/api/instances/${instance}/batches`;
  return {
    create: (input) => call<BatchView>(server, key, 'POST', base, input),
    async upload(id, fileName, body) {
      const path = `${base}/${id}/files/${encodeURIComponent(fileName)}`;
      const res = await reach(server, path, {
        method: 'PUT',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/octet-stream' },
        body: Readable.toWeb(body) as ReadableStream,
        duplex: 'half',
      } as RequestInit);
      if (!res.ok) throw await failure('PUT', path, res);
    },
    complete: async (id) => void (await call(server, key, 'POST', `${base}/${id}/complete`)),
    get: (id) => call<BatchView>(server, key, 'GET', `${base}/${id}`),
    firstErrors: async (id) => (await call<{ errors: RowErrorView[] }>(server, key, 'GET', `${base}/${id}/errors?limit=10`)).errors,
  };
}

function dataDirTarget(t: Tessera, instance: string): BatchTarget {
  return {
    create: async (input) => batchView(await t.batches.create(instance, input)),
    upload: async (id, fileName, body) => void (await t.batches.upload(instance, id, fileName, body)),
    complete: async (id) => void (await t.batches.complete(instance, id)),
    get: async (id) => batchView(await t.batches.get(instance, id)),
    firstErrors: (id) => t.batches.errors(instance, id, 10, 0),
  };
}

const formatOf = (file: string): BatchFormat => {
  const name = file.toLowerCase().replace(/\.gz$/, '');
  if (name.endsWith('.csv') || name.endsWith('.tsv')) return 'csv';
  if (name.endsWith('.ndjson') || name.endsWith('.jsonl')) return 'ndjson';
  if (name.endsWith('.json')) return 'json';
  if (name.endsWith('.parquet')) return 'parquet';
  throw new Error(`cannot tell the format of ${file}; pass --format csv|ndjson|json|parquet`);
};

/** Creates the batch, streams the file up with a byte bar, completes it and follows it with a rows bar; prints the summary. */
async function runImport(target: BatchTarget, file: string, input: CreateBatchInput, progress: boolean): Promise<void> {
  const size = (await stat(file)).size;
  const batch = await target.create(input);
  const bars = progress && process.stderr.isTTY;
  const upload = new SingleBar({ format: 'upload   [{bar}] {percentage}% | {value}/{total} bytes | ETA {eta}s', stream: process.stderr }, undefined);
  if (bars) upload.start(size, 0);
  let sent = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      sent += chunk.length;
      if (bars) upload.update(sent);
      done(null, chunk);
    },
  });
  await target.upload(batch.id, basename(file).replace(/[^A-Za-z0-9._-]/g, '_'), createReadStream(file).pipe(counter));
  if (bars) upload.stop();
  await target.complete(batch.id);
  // Processing: rows applied against rows read, with rows/s and ETA.
  const rowsBar = new SingleBar({ format: 'rows     [{bar}] {percentage}% | {value}/{total} rows | {rate} rows/s | ETA {eta}s', stream: process.stderr }, undefined);
  const started = Date.now();
  let view: BatchView;
  let barStarted = false;
  for (;;) {
    view = await target.get(batch.id);
    const total = view.counts.rowsRead || 1;
    if (bars) {
      const rate = Math.round(view.counts.rowsApplied / Math.max(0.001, (Date.now() - started) / 1000));
      if (!barStarted) {
        rowsBar.start(total, view.counts.rowsApplied, { rate });
        barStarted = true;
      }
      rowsBar.setTotal(total);
      rowsBar.update(view.counts.rowsApplied, { rate });
    }
    if (view.status !== 'processing' && view.status !== 'loading') break;
    await new Promise((r) => setTimeout(r, 250));
  }
  if (bars) rowsBar.stop();
  const secs = (view.timings.processingMs ?? Date.now() - started) / 1000;
  process.stdout.write(
    `batch ${view.id}: ${view.status} — ${view.counts.rowsRead} ${view.counts.rowsRead === 1 ? 'row' : 'rows'} read, ${view.counts.rowsApplied} applied, ${view.counts.rowsFailed} failed` +
      ` in ${secs.toFixed(1)} s (${Math.round(view.counts.rowsRead / Math.max(secs, 0.001))} rows/s)\n`,
  );
  if (view.message) process.stdout.write(`${view.message}\n`);
  if (view.counts.rowsFailed > 0) {
    const errs = await target.firstErrors(batch.id);
    process.stdout.write(`first row errors:\n${errs.map((e) => `  row ${e.row}: ${e.message}${e.value !== null ? ` (value "${e.value}")` : ''}`).join('\n')}\n`);
  }
  if (view.status === 'failed') process.exitCode = 1;
}

export function registerImport(program: Command): void {
  targetOptions(
    program
      .command('import <file>')
      .description('import a file (CSV, NDJSON, JSON, Parquet; gzip\'d or not) into a dataset as a batch, through a running server or on the data dir, with progress and a summary of row errors')
      .requiredOption('--dataset <name>', 'dataset name or id')
      .option('--format <format>', 'csv | ndjson | json | parquet (default: from the file name)')
      .option('--map <col=field>', 'map a file column to a schema field (repeatable; laid over the dataset\'s column mapping)', (v: string, acc: string[]) => [...acc, v], [] as string[])
      .option('--error-threshold <percent>', 'fail the whole batch above this share of bad rows (default 5)')
      .option('--delimiter <char>', 'CSV delimiter (default ,)')
      .option('--no-progress', 'no progress bars'),
  ).action(async (file: string, flags: ImportFlags) => {
    const mapping: Record<string, string> = {};
    for (const m of flags.map) {
      const [col, field] = m.split('=');
      if (!col || !field) throw new Error(`--map takes column=field, got "${m}"`);
      mapping[col] = field;
    }
    const format = flags.format ?? formatOf(file);
    if (!['csv', 'ndjson', 'json', 'parquet'].includes(format)) throw new Error(`--format takes csv, ndjson, json or parquet, got "${format}"`);
    const threshold = flags.errorThreshold === undefined ? undefined : Number(flags.errorThreshold);
    if (threshold !== undefined && !(threshold >= 0 && threshold <= 100)) throw new Error(`--error-threshold takes a percentage from 0 to 100, got "${flags.errorThreshold}"`);
    const input: CreateBatchInput = {
      datasetId: flags.dataset,
      format: format as BatchFormat,
      mapping,
      ...(threshold !== undefined ? { errorThreshold: threshold } : {}),
      ...(flags.delimiter !== undefined ? { csv: { delimiter: flags.delimiter } } : {}),
    };
    const remote = serverOf(flags);
    if (remote) await runImport(serverTarget(remote.server, remote.key, flags.instance), file, input, flags.progress);
    else await local(flags, (t) => runImport(dataDirTarget(t, flags.instance), file, input, flags.progress));
  });
}
