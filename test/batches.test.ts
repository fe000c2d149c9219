import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants as zlibConstants, gunzipSync, gzipSync } from 'node:zlib';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { beforeAll, describe, expect, it } from 'vitest';
import { batchEnd, usePeopleServer } from './helpers/fixtures.js';
import type { Doc } from './helpers/server.js';

const DATA = join(__dirname, '..', '..', 'shared', 'data');
const ctx = usePeopleServer();
let febrl = '';
let fake = '';

const FEBRL_SCHEMA = {
  type: 'object',
  properties: {
    ...Object.fromEntries(['rec_id', 'given_name', 'surname', 'street_number', 'address_1', 'address_2', 'suburb', 'postcode', 'state', 'soc_sec_id'].map((c) => [c, { type: 'string' }])),
    date_of_birth: { type: 'string', format: 'date' },
  },
};

beforeAll(async () => {
  const api = ctx.ts.api;
  await api('POST', '/api/instances/default/manage/namespaces', { body: { code: 'febrlId', unique: true, priority: 1 } });
  await api('POST', '/api/instances/default/manage/namespaces', { body: { code: 'fakeId', priority: 1 } });
  const s1 = await api('POST', '/api/instances/default/manage/schemas', { body: { name: 'Febrl', class: 'profile', jsonSchema: FEBRL_SCHEMA, identities: [{ path: 'rec_id', namespace: 'febrlId', primary: true }] } });
  febrl = String((await api('POST', '/api/instances/default/manage/datasets', { body: { name: 'febrl', schemaId: String(s1.body.id) } })).body.id);
  const s2 = await api('POST', '/api/instances/default/manage/schemas', {
    body: {
      name: 'Fake1000',
      class: 'profile',
      jsonSchema: { type: 'object', properties: { unique_id: { type: 'string' }, first_name: { type: 'string' }, surname: { type: 'string' }, dob: { type: 'string', format: 'date' }, city: { type: 'string' }, email: { type: 'string' }, cluster: { type: 'integer' } } },
      identities: [{ path: 'unique_id', namespace: 'fakeId', primary: true }],
    },
  });
  fake = String((await api('POST', '/api/instances/default/manage/datasets', { body: { name: 'fake1000', schemaId: String(s2.body.id) } })).body.id);
});

/** Each file goes up with the content type a client would give it: uploads are taken as streams whatever it is. */
const CONTENT_TYPES: Record<string, string> = { csv: 'text/csv', json: 'application/json', ndjson: 'application/x-ndjson' };
const contentTypeOf = (name: string): string => CONTENT_TYPES[name.split('.').pop() ?? ''] ?? 'application/octet-stream';

/** Creates a batch, uploads the files, completes it and waits for its end state. */
async function runBatch(options: Record<string, unknown>, files: Array<[string, Buffer | string]>): Promise<Doc> {
  const api = ctx.ts.api;
  const created = await api('POST', '/api/instances/default/batches', { body: options });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const id = String(created.body.id);
  expect(created.body.status).toBe('loading');
  for (const [name, content] of files) {
    const up = await api('PUT', `/api/instances/default/batches/${id}/files/${name}`, { raw: content, headers: { 'content-type': contentTypeOf(name) } });
    expect(up.status, JSON.stringify(up.body)).toBe(200);
  }
  expect((await api('POST', `/api/instances/default/batches/${id}/complete`)).status).toBe(202);
  return batchEnd(api, id);
}

const csv = (name: string): string => readFileSync(join(DATA, name), 'utf8');
const dataRows = (text: string): number => text.split('\n').filter((l) => l.trim() !== '').length - 1;

describe('batch ingestion', () => {
  it('imports febrl dataset1 and dataset2; their few invalid dates are row errors', async () => {
    const one = await runBatch({ datasetId: febrl, format: 'csv' }, [['data.csv', csv('febrl/dataset1.csv')]]);
    expect(one.status).toBe('partial');
    expect(one.counts).toEqual({ rowsRead: 1000, rowsApplied: 997, rowsFailed: 3 });
    const errors = await ctx.ts.api('GET', `/api/instances/default/batches/${String(one.id)}/errors`);
    expect((errors.body.errors as unknown as Array<{ row: number; value: string }>).map((e) => [e.row, e.value])).toEqual([
      [145, '19371233'],
      [148, '19729518'],
      [587, '19339026'],
    ]);
    const two = await runBatch({ datasetId: febrl, format: 'csv' }, [['data.csv', csv('febrl/dataset2.csv')]]);
    expect(two.counts!['rowsRead']).toBe(dataRows(csv('febrl/dataset2.csv')));
    expect(Number(two.counts!['rowsApplied']) + Number(two.counts!['rowsFailed'])).toBe(5000);
    // The same rec_id in both files is the same key of this dataset: the later file's row replaced it.
    const line = csv('febrl/dataset2.csv').split('\n').find((l) => l.startsWith('rec-1070-org,'))!.split(',').map((c) => c.trim());
    const p = await ctx.ts.api('GET', '/api/instances/default/profiles?identity=febrlId:rec-1070-org');
    expect(p.status).toBe(200);
    expect(p.body.attributes['given_name']).toBe(line[1]);
    expect(p.body.attributes['postcode']).toBe(line[7]);
  });

  it('reports the invalid dates of febrl dataset3 as row errors and ends partial', async () => {
    const text = csv('febrl/dataset3.csv');
    const b = await runBatch({ datasetId: 'febrl', format: 'csv' }, [['dataset3.csv', text]]);
    expect(b.status).toBe('partial');
    expect(b.counts).toEqual({ rowsRead: 5000, rowsApplied: 4965, rowsFailed: 35 });
    const errors = await ctx.ts.api('GET', `/api/instances/default/batches/${String(b.id)}/errors?limit=100`);
    const list = errors.body.errors as unknown as Array<{ row: number; field: string; value: string; message: string }>;
    expect(list).toHaveLength(35);
    // Row numbers point at the data rows (1 = the first row after the header).
    const lines = text.split('\n');
    for (const e of list) {
      expect(e.field).toBe('date_of_birth');
      expect(lines[e.row]).toContain(e.value);
      expect(e.message).toContain('not a valid date');
    }
    const listed = await ctx.ts.api('GET', `/api/instances/default/batches?datasetId=febrl`);
    expect((listed.body.batches as unknown as unknown[]).length).toBe(3);
  });

  it('imports splink fake_1000 (with "0" taken off the blocked identity values: it is a real id there)', async () => {
    const settings = await ctx.ts.api('GET', '/api/instances/default/manage/settings');
    const blocked = (settings.body.blockedValues as unknown as string[]).filter((v) => v !== '0');
    await ctx.ts.api('PATCH', '/api/instances/default/manage/settings', { body: { blockedValues: blocked } });
    const b = await runBatch({ datasetId: fake, format: 'csv' }, [['fake_1000.csv', csv('splink-fake-1000/fake_1000.csv')]]);
    expect(b.status, JSON.stringify(b)).toBe('success');
    expect(b.counts).toEqual({ rowsRead: 1000, rowsApplied: 1000, rowsFailed: 0 });
    const p = await ctx.ts.api('GET', '/api/instances/default/profiles?identity=fakeId:0');
    expect(p.body.attributes).toMatchObject({ first_name: 'Robert', dob: '1971-06-24', cluster: 0 });
  });

  it('takes gzip\'d CSV, NDJSON and JSON arrays, with a column mapping', async () => {
    const gz = await runBatch({ datasetId: febrl, format: 'csv', mapping: { id: 'rec_id', first: 'given_name' } }, [['people.csv.gz', gzipSync('id;first\r\nz-1;zoe\r\nz-2;zak\r\n')]]);
    expect(gz.status, JSON.stringify(gz)).toBe('failed'); // the delimiter is wrong: one column
    const ok = await runBatch({ datasetId: febrl, format: 'csv', mapping: { id: 'rec_id', first: 'given_name' }, csv: { delimiter: ';' } }, [['people.csv.gz', gzipSync('\uFEFFid;first\r\nz-1;zoe\r\nz-2;zak\r\n')]]);
    expect(ok.status, JSON.stringify(ok)).toBe('success');
    expect((await ctx.ts.api('GET', '/api/instances/default/profiles?identity=febrlId:z-2')).body.attributes).toEqual({ rec_id: 'z-2', given_name: 'zak' });
    const nd = await runBatch({ datasetId: febrl, format: 'ndjson' }, [['a.ndjson', '{"rec_id":"n-1","surname":"nd"}\n{"rec_id":"n-2"}\n']]);
    expect(nd.counts).toEqual({ rowsRead: 2, rowsApplied: 2, rowsFailed: 0 });
    const js = await runBatch({ datasetId: febrl, format: 'json' }, [['a.json', '[{"rec_id":"j-1"},{"rec_id":"j-2"},{"rec_id":"j-3"}]']]);
    expect(js.counts).toEqual({ rowsRead: 3, rowsApplied: 3, rowsFailed: 0 });
  });

  it('uses the column mapping stored on the dataset, with a batch\'s own laid over it', async () => {
    const api = ctx.ts.api;
    const bad = await api('PATCH', `/api/instances/default/manage/datasets/${febrl}`, { body: { columnMapping: { id: '' } } });
    expect(bad.status).toBe(400);
    const set = await api('PATCH', `/api/instances/default/manage/datasets/${febrl}`, { body: { columnMapping: { 'Record ID': 'rec_id', 'First Name': 'given_name', Born: 'date_of_birth' } } });
    expect(set.status).toBe(200);
    expect(set.body.columnMapping).toEqual({ 'Record ID': 'rec_id', 'First Name': 'given_name', Born: 'date_of_birth' });
    expect((await api('GET', `/api/instances/default/manage/datasets/${febrl}`)).body.columnMapping).toEqual(set.body.columnMapping);
    const stored = await runBatch({ datasetId: febrl, format: 'csv' }, [['export.csv', 'Record ID,First Name,Born\nm-1,mia,19900102\n']]);
    expect(stored.status, JSON.stringify(stored)).toBe('success');
    expect(stored.mapping).toEqual(set.body.columnMapping);
    expect((await api('GET', '/api/instances/default/profiles?identity=febrlId:m-1')).body.attributes).toEqual({ rec_id: 'm-1', given_name: 'mia', date_of_birth: '1990-01-02' });
    // A batch maps one column otherwise; the dataset's mapping holds for the rest.
    const over = await runBatch({ datasetId: febrl, format: 'csv', mapping: { 'First Name': 'surname' } }, [['export.csv', 'Record ID,First Name\nm-2,moss\n']]);
    expect(over.status, JSON.stringify(over)).toBe('success');
    expect((await api('GET', '/api/instances/default/profiles?identity=febrlId:m-2')).body.attributes).toEqual({ rec_id: 'm-2', surname: 'moss' });
    expect((await api('PATCH', `/api/instances/default/manage/datasets/${febrl}`, { body: { columnMapping: {} } })).body.columnMapping).toEqual({});
  });

  it('takes Parquet, row group by row group, with typed columns', async () => {
    const n = 2500;
    const file = Buffer.from(
      parquetWriteBuffer({
        columnData: [
          { name: 'id', data: Array.from({ length: n }, (_, i) => `pq-${i}`), type: 'STRING' },
          { name: 'given_name', data: Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 'ada' : 'alan')), type: 'STRING' },
          { name: 'date_of_birth', data: Array.from({ length: n }, (_, i) => new Date(Date.UTC(1950 + (i % 50), 0, 1 + (i % 28)))), type: 'TIMESTAMP' },
        ],
        rowGroupSize: 1000,
      }),
    );
    const b = await runBatch({ datasetId: febrl, format: 'parquet', mapping: { id: 'rec_id' } }, [['people.parquet', file]]);
    expect(b.status, JSON.stringify(b)).toBe('success');
    expect(b.counts).toEqual({ rowsRead: n, rowsApplied: n, rowsFailed: 0 });
    expect((await ctx.ts.api('GET', '/api/instances/default/profiles?identity=febrlId:pq-2499')).body.attributes).toEqual({ rec_id: 'pq-2499', given_name: 'alan', date_of_birth: '1999-01-08' });
    const truncated = await runBatch({ datasetId: febrl, format: 'parquet' }, [['cut.parquet', file.subarray(0, Math.floor(file.length / 2))]]);
    expect(truncated.status).toBe('failed');
    expect(truncated.message).toContain('could not be read as Parquet');
  });

  it('ends bad files with a clear status and message', async () => {
    const header = await runBatch({ datasetId: febrl, format: 'csv' }, [['bad.csv', 'rec_id,rec_id\na,b\n']]);
    expect(header.status).toBe('failed');
    expect(header.message).toContain('appears twice');
    const empty = await runBatch({ datasetId: febrl, format: 'csv' }, [['empty.csv', '']]);
    expect(empty.status).toBe('failed');
    expect(empty.message).toContain('empty');
    const truncated = await runBatch({ datasetId: febrl, format: 'csv' }, [['t.csv.gz', gzipSync('rec_id\nx-1\nx-2\n').subarray(0, 12)]]);
    expect(truncated.status).toBe('failed');
    expect(truncated.message).toContain('could not be read');
    const badJson = await runBatch({ datasetId: febrl, format: 'json' }, [['b.json', '[{"rec_id":']]);
    expect(badJson.status).toBe('failed');
    expect(badJson.message).toContain('not valid JSON');
  });

  it('fails a batch above its error threshold as a whole and applies nothing', async () => {
    const rows = ['rec_id,date_of_birth', 'th-1,19990101', 'th-2,19991301', 'th-3,notadate', 'th-4,20000229'].join('\n');
    const b = await runBatch({ datasetId: febrl, format: 'csv', errorThreshold: 10 }, [['th.csv', rows]]);
    expect(b.status).toBe('failed');
    expect(b.counts).toEqual({ rowsRead: 4, rowsApplied: 0, rowsFailed: 2 });
    expect(b.message).toContain('over the error threshold of 10%');
    expect((await ctx.ts.api('GET', '/api/instances/default/profiles?identity=febrlId:th-1')).status).toBe(404);
    const lenient = await runBatch({ datasetId: febrl, format: 'csv', errorThreshold: 50 }, [['th.csv', rows]]);
    expect(lenient.status).toBe('partial');
    expect((await ctx.ts.api('GET', '/api/instances/default/profiles?identity=febrlId:th-4')).body.attributes['date_of_birth']).toBe('2000-02-29');
  });

  it('reads a batch with a threshold of 100% once: the counts and row errors of two passes, and a file that breaks midway keeps the good rows before it', async () => {
    const errorsOf = async (b: Doc): Promise<unknown> => (await ctx.ts.api('GET', `/api/instances/default/batches/${String(b.id)}/errors?limit=100`)).body.errors;
    const text = csv('febrl/dataset3.csv');
    const once = await runBatch({ datasetId: febrl, format: 'csv', errorThreshold: 100 }, [['d3.csv', text]]);
    const twice = await runBatch({ datasetId: febrl, format: 'csv', errorThreshold: 99 }, [['d3.csv', text]]);
    expect(once.status).toBe('partial');
    expect(once.counts).toEqual({ rowsRead: 5000, rowsApplied: 4965, rowsFailed: 35 });
    expect(once.message).toBe(twice.message);
    expect(await errorsOf(once)).toEqual(await errorsOf(twice));

    const rows = ['rec_id,date_of_birth'];
    for (let i = 0; i < 3000; i++) rows.push(`cut-${i},${i === 7 ? 'notadate' : '19990101'}`);
    const whole = gzipSync(rows.join('\n'));
    const cut = await runBatch({ datasetId: febrl, format: 'csv', errorThreshold: 100 }, [['cut.csv.gz', whole.subarray(0, Math.floor(whole.length / 2))]]);
    expect(cut.status).toBe('partial');
    const counts = cut.counts as unknown as { rowsRead: number; rowsApplied: number; rowsFailed: number };
    // Every row of what the cut stream still holds, but the last one (it may be cut short).
    const prefix = gunzipSync(whole.subarray(0, Math.floor(whole.length / 2)), { finishFlush: zlibConstants.Z_SYNC_FLUSH }).toString();
    const lines = prefix.split('\n').slice(1);
    const expected = prefix.endsWith('\n') ? lines.length - 2 : lines.length - 1;
    expect(expected).toBeGreaterThan(100);
    expect(counts).toEqual({ rowsRead: expected, rowsApplied: expected - 1, rowsFailed: 1 });
    expect(cut.message).toContain('could not be read');
    expect(cut.message).toContain(`reading stopped after row ${counts.rowsRead}, and the ${counts.rowsApplied} good rows before it were applied`);
    expect((await ctx.ts.api('GET', `/api/instances/default/profiles?identity=febrlId:cut-${counts.rowsRead - 1}`)).status).toBe(200);
    expect((await ctx.ts.api('GET', '/api/instances/default/profiles?identity=febrlId:cut-2999')).status).toBe(404);
    expect((await errorsOf(cut)) as Array<{ row: number }>).toMatchObject([{ row: 8, value: 'notadate' }]);
    // With a threshold below 100% the same broken file applies nothing (it is read whole before anything is applied).
    const strict = await runBatch({ datasetId: febrl, format: 'csv', errorThreshold: 99 }, [['cut2.csv.gz', gzipSync(rows.join('\n').replaceAll('cut-', 'cut2-')).subarray(0, Math.floor(whole.length / 2))]]);
    expect(strict.status).toBe('failed');
    expect((await ctx.ts.api('GET', '/api/instances/default/profiles?identity=febrlId:cut2-1')).status).toBe(404);
  });

  it('keeps every row error of a batch with many bad rows, in row order, in both passes', async () => {
    const rows = ['rec_id,date_of_birth'];
    // 1,234 bad rows among 2,000: more than one write of errors, and a part-filled last one.
    for (let i = 0; i < 2000; i++) rows.push(`many-${i},${i % 13 < 8 ? `bad-${i}` : '19990101'}`);
    const expectedBad = rows.slice(1).filter((r) => r.includes('bad-')).length;
    const allErrors = async (b: Doc): Promise<Array<{ row: number; value: string }>> => {
      const out: Array<{ row: number; value: string }> = [];
      for (let offset = 0; ; offset += 500) {
        const page = (await ctx.ts.api('GET', `/api/instances/default/batches/${String(b.id)}/errors?limit=500&offset=${offset}`)).body.errors as unknown as Array<{ row: number; value: string }>;
        out.push(...page);
        if (page.length < 500) return out;
      }
    };
    for (const errorThreshold of [100, 70]) {
      const b = await runBatch({ datasetId: febrl, format: 'csv', errorThreshold }, [['many.csv', rows.join('\n').replaceAll('many-', `many${errorThreshold}-`)]]);
      expect(b.status).toBe('partial');
      expect(b.counts).toEqual({ rowsRead: 2000, rowsApplied: 2000 - expectedBad, rowsFailed: expectedBad });
      const errors = await allErrors(b);
      expect(errors.length).toBe(expectedBad);
      // Row numbers count data rows from 1 (the header is not one).
      const badRows = rows.flatMap((r, i) => (r.includes('bad-') ? [{ row: i, value: r.split(',')[1] }] : []));
      expect(errors.map((e) => ({ row: e.row, value: e.value }))).toEqual(badRows);
    }
  });

  it('validates a large file in two parts on two threads, with the counts and row errors of the whole file; a split inside a quoted value reads it whole', async () => {
    const validated = async (): Promise<Record<string, number>> => {
      const text = await ctx.ts.metrics();
      return Object.fromEntries(['whole', 'split', 'fallback'].map((how) => [how, Number(new RegExp(`tessera_batch_files_validated_total\\{how="${how}"\\} (\\d+)`).exec(text)?.[1] ?? NaN)]));
    };
    const errorsOf = async (b: Doc): Promise<Array<{ row: number; value: string | null; message: string }>> =>
      (await ctx.ts.api('GET', `/api/instances/default/batches/${String(b.id)}/errors?limit=100`)).body.errors as unknown as Array<{ row: number; value: string | null; message: string }>;
    // 9,000 rows of about 1 KB (over the 8 MB from which a file is split); bad dates in both halves.
    const pad = 'p'.repeat(1000);
    const bad = new Set([3, 4500, 7000, 8999]);
    const line = (tag: string, i: number): string => `${tag}-${i},${pad},${bad.has(i) ? `notadate${i}` : '19990101'}`;
    const lines = (tag: string, from: number, to: number): string[] => Array.from({ length: to - from + 1 }, (_, k) => line(tag, from + k));
    const before = await validated();
    const split = await runBatch({ datasetId: febrl, format: 'csv' }, [['split.csv', ['rec_id,surname,date_of_birth', ...lines('sp', 1, 9000)].join('\r\n') + '\r\n']]);
    expect(split.status, JSON.stringify(split)).toBe('partial');
    expect(split.counts).toEqual({ rowsRead: 9000, rowsApplied: 8996, rowsFailed: 4 });
    expect((await errorsOf(split)).map((e) => [e.row, e.value])).toEqual([...bad].map((i) => [i, `notadate${i}`]));
    expect(await validated()).toEqual({ ...before, split: before['split']! + 1 });

    // A quoted value of 1 MB with a line end every 100 characters over the middle of the file: one
    // row (too large a record), and the rows after it numbered as in the file.
    const quoted = `"${Array.from({ length: 10_000 }, () => 'q'.repeat(99)).join('\n')}"`;
    const head = ['rec_id,surname,date_of_birth', ...lines('fb', 1, 4400)].join('\n') + '\n';
    const text = head + `fb-4401,${quoted},19990101\n` + lines('fb', 4402, 9000).join('\n') + '\n';
    const middle = Math.floor(Buffer.byteLength(text) / 2);
    expect(middle > Buffer.byteLength(head) && middle < Buffer.byteLength(head) + quoted.length).toBe(true);
    const fallback = await runBatch({ datasetId: febrl, format: 'csv' }, [['fallback.csv', text]]);
    expect(fallback.status, JSON.stringify(fallback)).toBe('partial');
    expect(fallback.counts).toEqual({ rowsRead: 9000, rowsApplied: 8995, rowsFailed: 5 });
    const fallbackErrors = await errorsOf(fallback);
    expect(fallbackErrors.map((e) => e.row)).toEqual([3, 4401, 4500, 7000, 8999]);
    expect(fallbackErrors.find((e) => e.row === 4401)?.message).toMatch(/limit is 102400 bytes/);
    expect(await validated()).toEqual({ ...before, split: before['split']! + 1, fallback: before['fallback']! + 1 });

    // NDJSON: a line that is not JSON in each half.
    const nd = Array.from({ length: 9000 }, (_, k) => (k + 1 === 2 || k + 1 === 8000 ? '{"rec_id": broken' : JSON.stringify({ rec_id: `nd-${k + 1}`, surname: pad })));
    const ndjson = await runBatch({ datasetId: febrl, format: 'ndjson' }, [['split.ndjson', nd.join('\n') + '\n']]);
    expect(ndjson.counts).toEqual({ rowsRead: 9000, rowsApplied: 8998, rowsFailed: 2 });
    expect((await errorsOf(ndjson)).map((e) => e.row)).toEqual([2, 8000]);
    expect(await validated()).toEqual({ ...before, split: before['split']! + 2, fallback: before['fallback']! + 1 });
  });

  it('refuses what does not fit the batch\'s state', async () => {
    const created = await ctx.ts.api('POST', '/api/instances/default/batches', { body: { datasetId: febrl, format: 'csv' } });
    const id = String(created.body.id);
    expect((await ctx.ts.api('POST', `/api/instances/default/batches/${id}/complete`)).body.code).toBe('batch_empty');
    expect((await ctx.ts.api('PUT', `/api/instances/default/batches/${id}/files/..%2Fescape`, { raw: 'x', headers: { 'content-type': 'text/csv' } })).body.code).toBe('invalid_file_name');
    expect((await ctx.ts.api('POST', '/api/instances/default/batches', { body: { datasetId: 'nope', format: 'csv' } })).body.code).toBe('dataset_not_found');
    expect((await ctx.ts.api('GET', '/api/instances/default/batches/nope')).status).toBe(404);
  });
});
