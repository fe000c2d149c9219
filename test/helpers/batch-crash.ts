import { expect } from 'vitest';
import { batchEnd, setupPeople } from './fixtures.js';
import type { ServerProcess } from './process.js';
import { ADMIN_KEY, makeApi } from './server.js';

/**
 * A completed batch of `rows` people, then kill -9 of the node processing it, then `start` again
 * (the same data dir): the batch must end `success` with every row applied once, one profile each.
 */
export async function batchSurvivesKill(start: () => Promise<ServerProcess>, rows: number): Promise<void> {
  const s = await start();
  const api = makeApi(s.url, ADMIN_KEY);
  const ds = await setupPeople(api);
  const csv = ['crmId,personalEmail.address', ...Array.from({ length: rows }, (_, i) => `B-${i},b${i}@example.com`)].join('\n');
  const id = String((await api('POST', '/api/instances/default/batches', { body: { datasetId: ds.crm, format: 'csv' } })).body.id);
  expect((await api('PUT', `/api/instances/default/batches/${id}/files/people.csv`, { raw: csv, headers: { 'content-type': 'text/csv' } })).status).toBe(200);
  expect((await api('POST', `/api/instances/default/batches/${id}/complete`)).status).toBe(202);
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
