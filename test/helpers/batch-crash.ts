import { expect } from 'vitest';
import { batchEnd, setupPeople } from './fixtures.js';
import type { ServerProcess } from './process.js';
import { ADMIN_KEY, makeApi, type Api } from './server.js';

/** A batch of one CSV file of `rows` people (`crmId,personalEmail.address` lines), completed; its id. */
async function completedBatch(api: Api, datasetId: string, rows: number, line: (i: number) => string): Promise<string> {
  const csv = ['crmId,personalEmail.address', ...Array.from({ length: rows }, (_, i) => line(i))].join('\n');
  const id = String((await api('POST', '/api/instances/default/batches', { body: { datasetId, format: 'csv' } })).body.id);
  expect((await api('PUT', `/api/instances/default/batches/${id}/files/people.csv`, { raw: csv, headers: { 'content-type': 'text/csv' } })).status).toBe(200);
  expect((await api('POST', `/api/instances/default/batches/${id}/complete`)).status).toBe(202);
  return id;
}

/**
 * A completed batch of `rows` people, then kill -9 of the node processing it, then `start` again
 * (the same data dir): the batch must end `success` with every row applied once, one profile each.
 */
export async function batchSurvivesKill(start: () => Promise<ServerProcess>, rows: number): Promise<void> {
  const s = await start();
  const api = makeApi(s.url, ADMIN_KEY);
  const ds = await setupPeople(api);
  const id = await completedBatch(api, ds.crm, rows, (i) => `B-${i},b${i}@example.com`);
  // Acknowledged, and far from done (a few rows may have been applied: applying them again changes nothing).
  s.child.kill('SIGKILL');
  await s.exited;

  const again = await start();
  const api2 = makeApi(again.url, ADMIN_KEY);
  const b = await batchEnd(api2, id);
  expect(b.status).toBe('success');
  expect(b.counts).toEqual({ rowsRead: rows, rowsApplied: rows, rowsFailed: 0 });
  const customers = new Set<string>();
  for (let after = ''; ; ) {
    const page = await api2('GET', `/api/instances/default/profiles?limit=1000${after ? `&after=${after}` : ''}`);
    for (const c of page.body.customerIds as unknown as string[]) customers.add(c);
    if (page.body.next === null) break;
    after = String(page.body.next);
  }
  expect(customers.size).toBe(rows);
  for (const i of [0, rows / 2, rows - 1]) {
    const p = await api2('GET', `/api/instances/default/profiles?identity=crmId:B-${i}`);
    expect(p.body.attributes).toEqual({ crmId: `B-${i}`, personalEmail: { address: `b${i}@example.com` } });
  }
}

/**
 * A completed batch of 200,000 people; once its first rows are applied, a newer record of the
 * person of its first row; kill -9 while the batch still processes; `start` again. The batch ends
 * `success` with every row counted once, and the newer record is what the profile shows: the
 * rows applied before the kill are not applied again after it.
 */
export async function batchResumeKeepsNewerRecords(start: () => Promise<ServerProcess>): Promise<void> {
  const s = await start();
  const api = makeApi(s.url, ADMIN_KEY);
  const ds = await setupPeople(api);
  const rows = 200_000;
  const id = await completedBatch(api, ds.crm, rows, (i) => `K-${i},batch${i}@example.com`);
  // Once the batch has applied its first rows, a newer record of the person of its first row.
  const applied = async () => Number(((await api('GET', `/api/instances/default/batches/${id}`)).body.counts as unknown as { rowsApplied: number }).rowsApplied);
  while ((await applied()) === 0) await new Promise((r) => setTimeout(r, 10));
  const newer = { record: { crmId: 'K-0', personalEmail: { address: 'newer@example.com' } } };
  expect((await api('POST', `/api/instances/default/collection/${ds.crm}`, { body: newer })).status).toBe(200);
  const during = await api('GET', `/api/instances/default/batches/${id}`);
  if (String(during.body.status) !== 'processing') throw new Error(`the batch ended before the kill (${JSON.stringify(during.body.counts)}): this test needs a larger one`);
  s.child.kill('SIGKILL');
  await s.exited;

  const api2 = makeApi((await start()).url, ADMIN_KEY);
  const b = await batchEnd(api2, id);
  expect(b.status).toBe('success');
  expect(b.counts).toEqual({ rowsRead: rows, rowsApplied: rows, rowsFailed: 0 });
  expect((await api2('GET', '/api/instances/default/profiles?identity=crmId:K-0')).body.attributes).toEqual({ crmId: 'K-0', personalEmail: { address: 'newer@example.com' } });
  expect((await api2('GET', `/api/instances/default/profiles?identity=crmId:K-${rows - 1}`)).body.attributes).toEqual({ crmId: `K-${rows - 1}`, personalEmail: { address: `batch${rows - 1}@example.com` } });
}
