import { createWriteStream, openAsBlob, readFileSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeApi } from './helpers/server.js';
import { processJanitor, spawnServer } from './helpers/process.js';

const janitor = processJanitor();
afterEach(janitor.cleanup);

const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

describe('batch memory', () => {
  it('imports a 200 MB CSV with the server\'s RSS under 300 MB above idle', async () => {
    const dir = janitor.tempDir();
    const file = join(dir, 'wide.csv');
    const out = createWriteStream(file);
    out.write('id,city,notes\n');
    const pad = 'x'.repeat(1000);
    const rows = 210_000;
    for (let i = 0; i < rows; i++) if (!out.write(`w-${i},city ${i % 97},${pad}${i}\n`)) await once(out, 'drain');
    out.end();
    await once(out, 'finish');
    expect(statSync(file).size).toBeGreaterThan(200 * 1024 * 1024);

    const s = janitor.track(await spawnServer(['--data-dir', join(dir, 'data')], { TESSERA_BOOTSTRAP_ADMIN_KEY: 'mem-admin-key-0123456789' }));
    const api = makeApi(s.url, 'mem-admin-key-0123456789');
    await api('POST', '/api/instances/default/manage/namespaces', { body: { code: 'wideId' } });
    const schema = await api('POST', '/api/instances/default/manage/schemas', {
      body: { name: 'Wide', class: 'profile', jsonSchema: { type: 'object', properties: { id: { type: 'string' }, city: { type: 'string' }, notes: { type: 'string' } } }, identities: [{ path: 'id', namespace: 'wideId', primary: true }] },
    });
    await api('POST', '/api/instances/default/manage/datasets', { body: { name: 'wide', schemaId: String(schema.body.id) } });
    await api('PATCH', '/api/instances/default/manage/settings', { body: { rateLimits: { requestsPerSecond: 1e9, messagesPerSecond: 1e9, syncValidationPerMinute: 1e9 } } });
    await new Promise((r) => setTimeout(r, 500));
    const idle = rssMb(s.child.pid!);
    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(s.child.pid!))), 50);
    try {
      const batch = await api('POST', '/api/instances/default/batches', { body: { datasetId: 'wide', format: 'csv' } });
      const id = String(batch.body.id);
      const up = await fetch(`${s.url}/api/instances/default/batches/${id}/files/wide.csv`, {
        method: 'PUT',
        headers: { authorization: 'Bearer mem-admin-key-0123456789', 'content-type': 'text/csv' },
        body: await openAsBlob(file),
      });
      expect(up.status).toBe(200);
      await api('POST', `/api/instances/default/batches/${id}/complete`);
      let status = 'processing';
      let body: Record<string, unknown> = {};
      while (status === 'processing') {
        await new Promise((r) => setTimeout(r, 500));
        body = (await api('GET', `/api/instances/default/batches/${id}`)).body as unknown as Record<string, unknown>;
        status = String(body['status']);
      }
      expect(status, JSON.stringify(body)).toBe('success');
      expect(body['counts']).toEqual({ rowsRead: rows, rowsApplied: rows, rowsFailed: 0 });
    } finally {
      clearInterval(sampler);
    }
    process.stderr.write(`batch memory: idle ${Math.round(idle)} MB, peak ${Math.round(peak)} MB\n`);
    expect(peak - idle, `idle ${Math.round(idle)} MB, peak ${Math.round(peak)} MB`).toBeLessThan(300);
  }, 600_000);
});
