import { afterEach, describe, expect, it } from 'vitest';
import { openTessera } from '../src/runtime/tessera.js';
import { bootstrap } from '../src/server.js';
import { ADMIN_KEY, makeApi, startTestServer } from './helpers/server.js';
import { setupPeople } from './helpers/fixtures.js';
import { batchResumeKeepsNewerRecords, batchSurvivesKill } from './helpers/batch-crash.js';
import { processJanitor, spawnServer } from './helpers/process.js';

const janitor = processJanitor();
const tempDir = janitor.tempDir;
afterEach(janitor.cleanup);

describe('durability', () => {
  it('applies on start what the lake holds beyond the last applied point', async () => {
    const dataDir = tempDir();
    // Set up, then write records to the lake only: acknowledged, not yet applied (as at a crash).
    const setup = await startTestServer({ dataDir });
    const ds = await setupPeople(setup.api);
    await setup.close();
    const t = await openTessera({ dataDir });
    await bootstrap(t, ADMIN_KEY);
    const receivedAt = Date.now();
    await t.lake.append(
      Array.from({ length: 3 }, (_, i) => ({
        instanceId: 'default',
        datasetId: ds.crm,
        recordId: `r-${i}`,
        receivedAt,
        path: 'streaming' as const,
        requestId: 'req-1',
        caller: null,
        recordJson: JSON.stringify({ crmId: `L-${i}`, personalEmail: { address: 'shared@example.com' } }),
      })),
    );
    await t.close();

    const ts = await startTestServer({ dataDir });
    try {
      const p0 = await ts.api('GET', '/api/instances/default/profiles?identity=crmId:L-0');
      expect(p0.status).toBe(200);
      // L-1 and L-2 share the email but are different crmIds (unique): they stay apart, with warnings.
      const p1 = await ts.api('GET', '/api/instances/default/profiles?identity=crmId:L-1');
      expect(p1.status).toBe(200);
      expect(p1.body.customerId).not.toBe(p0.body.customerId);
      const warnings = await ts.api('GET', '/api/instances/default/manage/identity-warnings');
      expect(warnings.body.warnings).toHaveLength(2);
    } finally {
      await ts.close();
    }
    // A second start replays nothing more: the watermark moved.
    const again = await startTestServer({ dataDir });
    try {
      const warnings = await again.api('GET', '/api/instances/default/manage/identity-warnings');
      expect(warnings.body.warnings).toHaveLength(2);
    } finally {
      await again.close();
    }
  });

  it('kill -9 mid-stream loses nothing that was acknowledged', async () => {
    const dataDir = tempDir();
    const env = { TESSERA_BOOTSTRAP_ADMIN_KEY: ADMIN_KEY };
    const s = await spawnServer(['--data-dir', dataDir], env);
    janitor.track(s);
    const api = makeApi(s.url, ADMIN_KEY);
    const ds = await setupPeople(api);
    const acked: string[] = [];
    let stop = false;
    const sender = async (w: number): Promise<void> => {
      for (let b = 0; !stop; b++) {
        const ids = Array.from({ length: 100 }, (_, i) => `K-${w}-${b}-${i}`);
        const res = await api('POST', '/api/instances/default/collection/batch', { body: { messages: ids.map((id) => ({ datasetId: ds.crm, record: { crmId: id } })) } }).catch(() => null);
        if (res?.status === 207) acked.push(...ids);
        else return;
      }
    };
    const workers = [0, 1, 2, 3].map(sender);
    while (acked.length < 2000) await new Promise((r) => setTimeout(r, 10));
    s.child.kill('SIGKILL');
    stop = true;
    await Promise.all(workers);
    await s.exited;

    const again = await spawnServer(['--data-dir', dataDir], env);
    janitor.track(again);
    const api2 = makeApi(again.url, ADMIN_KEY);
    const missing: string[] = [];
    for (const id of acked) {
      const res = await api2('GET', `/api/instances/default/profiles?identity=crmId:${id}`);
      if (res.status !== 200) missing.push(id);
    }
    expect(missing).toEqual([]);
  });

  it('kill -9 while a completed batch is processing: on start it is processed again from its files and ends as it would have', async () => {
    const dataDir = tempDir();
    await batchSurvivesKill(async () => janitor.track(await spawnServer(['--data-dir', dataDir], { TESSERA_BOOTSTRAP_ADMIN_KEY: ADMIN_KEY })), 60_000);
  });

  it('kill -9 during a batch: on start the rows it had applied are not applied again, so a later record of the same person stays', async () => {
    const dataDir = tempDir();
    await batchResumeKeepsNewerRecords(async () => janitor.track(await spawnServer(['--data-dir', dataDir], { TESSERA_BOOTSTRAP_ADMIN_KEY: ADMIN_KEY })));
  });
});
