import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer } from './helpers/server.js';
import { ingestBatch, setupPeople } from './helpers/fixtures.js';
import { processJanitor, runCli } from './helpers/process.js';
import { snapshot } from './helpers/snapshot.js';

const janitor = processJanitor();
afterEach(janitor.cleanup);

describe('tessera rebuild', () => {
  it('recomputes profiles and timelines from the lake after streaming, real-time and batch ingestion, equal to the live state', async () => {
    const dataDir = janitor.tempDir();
    const live = await startTestServer({ dataDir });
    const ds = await setupPeople(live.api);
    const messages = [];
    for (let i = 0; i < 120; i++) {
      messages.push({ datasetId: ds.web, record: { personalEmail: { address: `p${i}@example.com` }, loyalty: { points: i } } });
      if (i % 3 === 0) messages.push({ datasetId: ds.crm, record: { crmId: `C${i}`, personalEmail: { address: `p${i}@example.com` }, mobilePhone: { number: `+1415555${String(1000 + i)}` } } });
      if (i % 4 === 0) messages.push({ datasetId: ds.events, record: { _id: `e${i}`, timestamp: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(), eventType: 'order', identityMap: { email: [{ id: `p${i}@example.com` }] } } });
    }
    // A unique-namespace conflict (warning) and a merge of two existing profiles.
    messages.push({ datasetId: ds.web, record: { crmId: 'C999', personalEmail: { address: 'p0@example.com' } } });
    messages.push({ datasetId: ds.web, record: { personalEmail: { address: 'p1@example.com' }, identityMap: { email: [{ id: 'p2@example.com' }] } } });
    for (let k = 0; k < messages.length; k += 50) await ingestBatch(live.api, messages.slice(k, k + 50));
    // Real-time changes: an override, a UnifiedActivity and a dataset-format activity.
    const p5 = (await live.api('GET', '/api/instances/default/profiles?identity=email:p5@example.com')).body.customerId;
    expect((await live.api('PATCH', `/api/instances/default/data/Customer/${String(p5)}`, { body: { loyalty: { tier: 'gold' } } })).status).toBe(204);
    expect((await live.api('POST', '/api/instances/default/data/UnifiedActivity', { body: { ActivityId: 'ua-1', CustomerId: String(p5), ActivityTime: '2026-02-01T00:00:00Z', ActivityType: 'Call' } })).status).toBe(201);
    expect((await live.api('POST', '/api/instances/default/data/events', { body: { _id: 'rt-e1', timestamp: '2026-02-02T00:00:00Z', identityMap: { email: [{ id: 'p7@example.com' }] } } })).status).toBe(201);
    // And a batch file (some rows joining existing people, one row failing).
    const batch = await live.api('POST', '/api/instances/default/batches', { body: { datasetId: 'web', format: 'ndjson', errorThreshold: 50 } });
    const lines = ['{"personalEmail":{"address":"p3@example.com"},"loyalty":{"points":333}}', '{"personalEmail":{"address":"batch-new@example.com"}}', '{"loyalty":{"points":"bad"}}'];
    await live.api('PUT', `/api/instances/default/batches/${String(batch.body.id)}/files/b.ndjson`, { raw: lines.join('\n'), headers: { 'content-type': 'application/x-ndjson' } });
    await live.api('POST', `/api/instances/default/batches/${String(batch.body.id)}/complete`);
    for (let b = await live.api('GET', `/api/instances/default/batches/${String(batch.body.id)}`); String(b.body.status) === 'processing'; b = await live.api('GET', `/api/instances/default/batches/${String(batch.body.id)}`)) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await live.api('GET', '/api/instances/default/profiles?identity=email:batch-new@example.com')).status).toBe(200);
    // A source record deleted (kept in the lake as a deletion, compacted into Parquet below).
    expect((await live.api('DELETE', '/api/instances/default/manage/datasets/crm/records/C3')).status).toBe(204);
    expect((await live.api('GET', '/api/instances/default/profiles?identity=crmId:C3')).status).toBe(404);
    const before = await snapshot(live.api);
    await live.close();

    // A later process compacts the closed segments into Parquet; nothing changes for readers.
    const compacting = await startTestServer({ dataDir });
    const compacted = await compacting.server.tessera.compactLake();
    expect(compacted).toBeGreaterThan(0);
    const files = readdirSync(join(dataDir, 'lake'), { recursive: true }).map(String);
    expect(files.filter((f) => f.endsWith('.ndjson'))).toEqual([]);
    expect(files.filter((f) => f.endsWith('.parquet')).length).toBe(compacted);
    expect(await snapshot(compacting.api)).toEqual(before);
    await compacting.close();

    const rebuilt = runCli(['rebuild', '--data-dir', dataDir]);
    expect(rebuilt.status, rebuilt.stderr).toBe(0);
    expect(rebuilt.stdout).toMatch(/rebuilt all instances from the lake: \d+ records applied/);

    const again = await startTestServer({ dataDir });
    try {
      const after = await snapshot(again.api);
      expect(after).toEqual(before);
      expect((before as { profiles: unknown[] }).profiles.length).toBeGreaterThan(100);
    } finally {
      await again.close();
    }
  });
});
