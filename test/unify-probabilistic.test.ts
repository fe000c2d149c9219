import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pairwiseQuality } from '../src/domain/unify/evaluate.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const FILE = join(__dirname, '..', '..', 'shared', 'data', 'splink-fake-1000', 'fake_1000.csv');
const base = '/api/instances/default/manage';
let ts: TestServer;

beforeAll(async () => {
  ts = await startTestServer();
  const api = ts.api;
  // unique_id 0 is a real key here, not a placeholder: take "0" off the blocked values.
  await api('PATCH', `${base}/settings`, { body: { blockedValues: ['', 'null', 'undefined', 'anonymous', 'none', 'n/a'] } });
  await api('POST', `${base}/namespaces`, { body: { code: 'fakeId', unique: true } });
  const columns = ['unique_id', 'first_name', 'surname', 'dob', 'city', 'email', 'cluster'];
  const schema = await api('POST', `${base}/schemas`, {
    body: { name: 'Fake', class: 'profile', jsonSchema: { type: 'object', properties: Object.fromEntries(columns.map((c) => [c, { type: ['string', 'null'] }])) }, identities: [{ path: 'unique_id', namespace: 'fakeId', primary: true }] },
  });
  await api('POST', `${base}/datasets`, { body: { name: 'people', schemaId: String(schema.body.id) } });
  const batch = await api('POST', '/api/instances/default/batches', { body: { datasetId: 'people', format: 'csv' } });
  await api('PUT', `/api/instances/default/batches/${String(batch.body.id)}/files/fake.csv`, { raw: readFileSync(FILE), headers: { 'content-type': 'text/csv' } });
  await api('POST', `/api/instances/default/batches/${String(batch.body.id)}/complete`);
  for (;;) {
    const b = await api('GET', `/api/instances/default/batches/${String(batch.body.id)}`);
    if (String(b.body.status) === 'success') break;
    if (!['loading', 'processing'].includes(String(b.body.status))) throw new Error(JSON.stringify((await api('GET', `/api/instances/default/batches/${String(batch.body.id)}/errors`)).body).slice(0, 600));
    await new Promise((r) => setTimeout(r, 50));
  }
});
afterAll(async () => ts.close());

describe('probabilistic unification (Fellegi–Sunter)', () => {
  it('trains on the data itself and beats Splink\'s best F1 on fake_1000 at its configured threshold', async () => {
    const config = JSON.parse(readFileSync(join(__dirname, '..', 'bench', 'unify', 'fake_1000.probabilistic.json'), 'utf8')) as Record<string, unknown>;
    expect((await ts.api('PUT', `${base}/unification`, { body: config })).status).toBe(200);
    const run = await ts.api('POST', `${base}/refresh?wait=true`);
    expect(run.status, JSON.stringify(run.body)).toBe(200);
    expect(run.body.status).toBe('success');
    expect(run.body.counts!['records']).toEqual(1000);
    // Every record's profile, against the file's cluster column.
    const rows = parse(readFileSync(FILE), { columns: true }) as Array<Record<string, string>>;
    const ids = (await ts.api<{ customerIds: string[] }>('GET', '/api/instances/default/profiles?limit=1000')).body.customerIds;
    const profileOf = new Map<string, number>();
    for (const [k, id] of ids.entries()) {
      const f = await ts.api('GET', `/api/instances/default/profiles/${id}/fragments`);
      for (const fragment of f.body['fragments'] as unknown as Array<{ recordKey: string }>) profileOf.set(fragment.recordKey, k);
    }
    const q = pairwiseQuality(rows.map((r) => profileOf.get(`fakeId:${r.unique_id}`)!), rows.map((r) => r.cluster!));
    expect(q.f1).toBeGreaterThan(0.862);
    expect(q.precision).toBeGreaterThan(0.99);
  });

  it('explains a pair: each comparison with its level, m, u and weight, adding up to the match probability', async () => {
    const res = await ts.api('POST', `${base}/unification/explain`, { body: { left: 'people/0', right: 'people/1' } });
    expect(res.status).toBe(200);
    const e = res.body as unknown as { mode: string; left: { recordKey: string }; priorWeight: number; matchWeight: number; probability: number; threshold: number; matched: boolean; comparisons: Array<{ field: string; level: string; weight: number; m: number | null; u: number | null }> };
    expect(e.mode).toBe('probabilistic');
    expect(e.left.recordKey).toBe('fakeId:0');
    expect(e.comparisons.map((c) => c.field)).toEqual(['first_name', 'surname', 'dob', 'city', 'email']);
    // Robert Alan 1971-06-24 robert255@smith.net vs Robert Allen 1971-05-24 roberta25@smith.net
    expect(e.comparisons.map((c) => c.level)).toEqual(['exact', 'jaroWinkler >= 0.7', 'levenshtein <= 1', 'missing', 'jaroWinkler >= 0.88']);
    expect(e.comparisons[3]!.weight).toBe(0);
    expect(e.matchWeight).toBeCloseTo(e.priorWeight + e.comparisons.reduce((s, c) => s + c.weight, 0), 9);
    expect(e.probability).toBeCloseTo(1 / (1 + 2 ** -e.matchWeight), 12);
    expect(e.matched).toBe(e.probability >= e.threshold);
    const far = await ts.api('POST', `${base}/unification/explain`, { body: { left: 'people/0', right: 'people/999' } });
    expect(far.body.matched).toBe(false);
    expect((await ts.api('POST', `${base}/unification/explain`, { body: { left: 'people/0', right: 'nope' } })).body.code).toBe('invalid_record_reference');
  });
});

