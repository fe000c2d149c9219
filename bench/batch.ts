/**
 * npm run bench:batch [-- --rows 1000000 --error-threshold 100 --random-keys]
 *
 * Imports a generated CSV of person records (one identity each, typed columns) through the batch
 * API of a real server (person ids P0, P1, … in file order; `--random-keys`: scattered ids, as
 * emails or CRM ids come in a real export, so that every index insert lands somewhere else), and
 * reports rows/s and peak RSS; the denominator is raw better-sqlite3 batched inserts of the same
 * rows into a plain table, measured in the same run, and the same rows written straight into
 * Tessera's own tables (the storage floor of an import).
 */
import Database from 'better-sqlite3';
import { createWriteStream, mkdtempSync, openAsBlob, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { openDatabase } from '../src/storage/sqlite/open.js';
import { arg, cpuSeconds, peakRssMb, report, round } from './lib/harness.js';
import { http, json } from './lib/http.js';
import { KEY, startBenchServer } from './lib/tessera-bench.js';

const ROWS = arg('rows', 1_000_000);
/** The batch's error threshold (default 5%, the API's); at 100% a batch cannot fail as a whole and is read once, not validated first. */
const THRESHOLD = arg('error-threshold', 5);
/** Scattered ids: i times a large odd number modulo a prime above it (one to one, so still unique). */
const RANDOM_KEYS = process.argv.includes('--random-keys');
const personId = (i: number): string => (RANDOM_KEYS ? `P${(i * 2654435761) % 4294967291}` : `P${i}`);
const log = (msg: string): void => void process.stderr.write(`[bench:batch] ${msg}\n`);
const FIRST = ['ann', 'bob', 'chen', 'dana', 'eli', 'fatima', 'goran', 'hana'];
const CITIES = ['sydney', 'leeds', 'austin', 'lyon', 'porto', 'osaka'];
const row = (i: number): string[] => [personId(i), FIRST[i % 8]!, `surname${i % 9973}`, String(19400101 + (i % 60) * 10000 + (i % 12) * 100 + (i % 28) + 1), CITIES[i % 6]!, String(i % 1000), i % 3 === 0 ? 'true' : 'false'];

const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-batch-'));
const file = join(dir, 'people.csv');
const out = createWriteStream(file);
out.write('person_id,first_name,surname,date_of_birth,city,points,vip\n');
for (let i = 0; i < ROWS; i++) if (!out.write(row(i).join(',') + '\n')) await once(out, 'drain');
out.end();
await once(out, 'finish');
log(`generated ${ROWS} rows (${Math.round(statSync(file).size / 1e6)} MB)`);

// Denominator: raw SQLite batched inserts of the same rows (one transaction per 10,000 rows).
const raw = new Database(join(dir, 'raw.db'));
raw.pragma('journal_mode = WAL');
raw.pragma('synchronous = NORMAL');
raw.exec('CREATE TABLE people (person_id TEXT PRIMARY KEY, first_name TEXT, surname TEXT, date_of_birth TEXT, city TEXT, points INTEGER, vip INTEGER)');
const insert = raw.prepare('INSERT INTO people VALUES (?, ?, ?, ?, ?, ?, ?)');
const insertMany = raw.transaction((from: number, to: number) => {
  for (let i = from; i < to; i++) insert.run(...row(i));
});
let t = performance.now();
for (let i = 0; i < ROWS; i += 10_000) insertMany(i, Math.min(ROWS, i + 10_000));
const rawRate = ROWS / ((performance.now() - t) / 1000);
raw.close();
log(`raw SQLite batched inserts: ${Math.round(rawRate)} rows/s`);

// The storage floor: what one person record costs Tessera's own tables (real schema and pragmas),
// written straight through better-sqlite3 with nothing else around it: the owner lookup of its
// identity, its profile, its identity and its fragment (five B-tree inserts with the indexes),
// one transaction per 2,000 rows as the import's group commits.
const floorDb = openDatabase(join(dir, 'floor.db'));
const fs = {
  owners: floorDb.prepare('SELECT customer_id FROM identities WHERE instance_id = ? AND namespace = ? AND value = ?'),
  profile: floorDb.prepare('INSERT INTO profiles (instance_id, customer_id, created_at, updated_at) VALUES (?, ?, ?, ?)'),
  identity: floorDb.prepare('INSERT OR IGNORE INTO identities (instance_id, namespace, value, customer_id, first_seen) VALUES (?, ?, ?, ?, ?)'),
  fragment: floorDb.prepare('INSERT INTO fragments (instance_id, dataset_id, record_key, customer_id, ts, received_at, hash, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
};
const floorMany = floorDb.transaction((from: number, to: number) => {
  for (let i = from; i < to; i++) {
    const r = row(i);
    const customerId = `0192c3a1-${String(i).padStart(8, '0')}-7abc-8def-0123456789ab`;
    fs.owners.get('default', 'personId', r[0]);
    fs.profile.run('default', customerId, i, i);
    fs.identity.run('default', 'personId', r[0], customerId, i);
    fs.fragment.run('default', 'imported', `personId:${r[0]}`, customerId, i, i, 'q3Jm0zN5c2t1bWJlcnNhbmRsZXR0ZXJz', JSON.stringify({ person_id: r[0], first_name: r[1], surname: r[2], date_of_birth: r[3], city: r[4], points: Number(r[5]), vip: r[6] === 'true' }));
  }
});
t = performance.now();
for (let i = 0; i < ROWS; i += 2000) floorMany(i, Math.min(ROWS, i + 2000));
const floorRate = ROWS / ((performance.now() - t) / 1000);
floorDb.close();
log(`Tessera's tables written directly (storage floor): ${Math.round(floorRate)} rows/s`);

const s = await startBenchServer();
try {
  await json('POST', `${s.api}/manage/namespaces`, KEY, { code: 'personId', unique: true, priority: 1 });
  const schema = await json<{ id: string }>('POST', `${s.api}/manage/schemas`, KEY, {
    name: 'Imported',
    class: 'profile',
    jsonSchema: { type: 'object', properties: { person_id: { type: 'string' }, first_name: { type: 'string' }, surname: { type: 'string' }, date_of_birth: { type: 'string', format: 'date' }, city: { type: 'string' }, points: { type: 'integer' }, vip: { type: 'boolean' } } },
    identities: [{ path: 'person_id', namespace: 'personId', primary: true }],
  });
  await json('POST', `${s.api}/manage/datasets`, KEY, { name: 'imported', schemaId: schema.id });
  const batch = await json<{ id: string }>('POST', `${s.api}/batches`, KEY, { datasetId: 'imported', format: 'csv', errorThreshold: THRESHOLD });
  t = performance.now();
  const cpuAtStart = cpuSeconds(s.server.pid);
  const res = await fetch(`${s.api}/batches/${batch.id}/files/people.csv`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'text/csv' },
    body: await openAsBlob(file),
  });
  if (!res.ok) throw new Error(`upload: ${res.status} ${await res.text()}`);
  const uploadSeconds = (performance.now() - t) / 1000;
  await json('POST', `${s.api}/batches/${batch.id}/complete`, KEY);
  let view: { status: string; counts: { rowsRead: number; rowsApplied: number; rowsFailed: number }; timings: { processingMs: number | null } };
  for (;;) {
    view = JSON.parse((await http('GET', `${s.api}/batches/${batch.id}`, KEY)).body) as typeof view;
    if (view.status !== 'processing') break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const total = (performance.now() - t) / 1000;
  if (view.status !== 'success') throw new Error(`batch ended ${view.status}: ${JSON.stringify(view)}`);
  const rate = view.counts.rowsApplied / total;
  const cpuUsPerRow = ((cpuSeconds(s.server.pid) - cpuAtStart) * 1e6) / view.counts.rowsApplied;
  log(`import: ${view.counts.rowsApplied} rows in ${round(total)} s (upload ${round(uploadSeconds)} s) = ${Math.round(rate)} rows/s, server CPU ${Math.round(cpuUsPerRow)} µs/row`);
  report(
    `batch${THRESHOLD === 5 ? '' : `-threshold-${THRESHOLD}`}${RANDOM_KEYS ? '-random-keys' : ''}`,
    {
      import_rows_per_s: Math.round(rate),
      import_seconds_s: round(total),
      upload_seconds_s: round(uploadSeconds),
      server_cpu_us_per_row: Math.round(cpuUsPerRow),
      peak_rss_mb: peakRssMb(s.server.pid),
      import_vs_raw_sqlite_ratio: round(rate / rawRate, 3),
      import_vs_storage_floor_ratio: round(rate / floorRate, 3),
      rows_count: view.counts.rowsApplied,
    },
    { raw_sqlite_batched_insert_rows_per_s: Math.round(rawRate), tessera_tables_direct_rows_per_s: Math.round(floorRate) },
    { command: `npm run bench:batch -- --rows ${ROWS}${THRESHOLD === 5 ? '' : ` --error-threshold ${THRESHOLD}`}${RANDOM_KEYS ? ' --random-keys' : ''}` },
  );
} finally {
  await s.close();
  rmSync(dir, { recursive: true, force: true });
}
