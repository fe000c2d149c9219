import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { call } from './server-call.js';

interface ImportFlags {
  dataset: string;
  format?: string;
  map: string[];
  server?: string;
  key?: string;
  instance: string;
  errorThreshold?: string;
  delimiter?: string;
  progress: boolean;
}

interface BatchView {
  id: string;
  status: string;
  counts: { rowsRead: number; rowsApplied: number; rowsFailed: number };
  message: string | null;
  timings: { processingMs: number | null };
}

const formatOf = (file: string): string => {
  const name = file.toLowerCase().replace(/\.gz$/, '');
  if (name.endsWith('.csv') || name.endsWith('.tsv')) return 'csv';
  if (name.endsWith('.ndjson') || name.endsWith('.jsonl')) return 'ndjson';
  if (name.endsWith('.json')) return 'json';
  if (name.endsWith('.parquet')) return 'parquet';
  throw new Error(`cannot tell the format of ${file}; pass --format csv|ndjson|json`);
};

export function registerImport(program: Command): void {
  program
    .command('import <file>')
    .description('import a file (CSV, NDJSON, JSON; gzip\'d or not) into a dataset as a batch, with progress and a summary of row errors')
    .requiredOption('--dataset <name>', 'dataset name or id')
    .option('--format <format>', 'csv | ndjson | json | parquet (default: from the file name)')
    .option('--map <col=field>', 'map a file column to a schema field (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--server <url>', 'a running Tessera (env TESSERA_URL, default http://localhost:8080)')
    .option('--key <key>', 'API key, contributor or admin (env TESSERA_KEY)')
    .option('-i, --instance <id>', 'instance', 'default')
    .option('--error-threshold <percent>', 'fail the whole batch above this share of bad rows (default 5)')
    .option('--delimiter <char>', 'CSV delimiter (default ,)')
    .option('--no-progress', 'no progress bars')
    .action(async (file: string, flags: ImportFlags) => {
      const server = (flags.server ?? process.env['TESSERA_URL'] ?? 'http://localhost:8080').replace(/\/$/, '');
      const key = flags.key ?? process.env['TESSERA_KEY'];
      if (!key) throw new Error('give an API key with --key or TESSERA_KEY');
      const mapping: Record<string, string> = {};
      for (const m of flags.map) {
        const [col, field] = m.split('=');
        if (!col || !field) throw new Error(`--map takes column=field, got "${m}"`);
        mapping[col] = field;
      }
      const base = `/api/instances/${flags.instance}`;
      const size = (await stat(file)).size;
      const batch = await call<BatchView>(server, key, 'POST', `${base}/batches`, {
        datasetId: flags.dataset,
        format: flags.format ?? formatOf(file),
        mapping,
        ...(flags.errorThreshold !== undefined ? { errorThreshold: Number(flags.errorThreshold) } : {}),
        ...(flags.delimiter !== undefined ? { csv: { delimiter: flags.delimiter } } : {}),
      });
      const bars = flags.progress && process.stderr.isTTY;
      // Upload, streaming, with a byte progress bar.
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
      const res = await fetch(`${server}${base}/batches/${batch.id}/files/${encodeURIComponent(basename(file).replace(/[^A-Za-z0-9._-]/g, '_'))}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/octet-stream' },
        body: Readable.toWeb(createReadStream(file).pipe(counter)) as ReadableStream,
        duplex: 'half',
      } as RequestInit);
      if (bars) upload.stop();
      if (!res.ok) throw new Error(`upload: ${res.status} ${await res.text()}`);
      await call<BatchView>(server, key, 'POST', `${base}/batches/${batch.id}/complete`);
      // Processing: rows applied against rows read, with rows/s and ETA.
      const rowsBar = new SingleBar({ format: 'rows     [{bar}] {percentage}% | {value}/{total} rows | {rate} rows/s | ETA {eta}s', stream: process.stderr }, undefined);
      const started = Date.now();
      let view: BatchView;
      let barStarted = false;
      for (;;) {
        view = await call<BatchView>(server, key, 'GET', `${base}/batches/${batch.id}`);
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
        `batch ${view.id}: ${view.status} — ${view.counts.rowsRead} rows read, ${view.counts.rowsApplied} applied, ${view.counts.rowsFailed} failed` +
          ` in ${secs.toFixed(1)} s (${Math.round(view.counts.rowsRead / Math.max(secs, 0.001))} rows/s)\n`,
      );
      if (view.message) process.stdout.write(`${view.message}\n`);
      if (view.counts.rowsFailed > 0) {
        const errs = await call<{ errors: Array<{ file: string; row: number; field: string | null; value: string | null; message: string }> }>(server, key, 'GET', `${base}/batches/${batch.id}/errors?limit=10`);
        process.stdout.write(`first row errors:\n${errs.errors.map((e) => `  row ${e.row}: ${e.message}${e.value !== null ? ` (value "${e.value}")` : ''}`).join('\n')}\n`);
      }
      if (view.status === 'failed') process.exitCode = 1;
    });
}
