import Database from 'better-sqlite3';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ingestBatch, setupPeople } from './helpers/fixtures.js';
import { processJanitor, runCli, spawnServer } from './helpers/process.js';
import { makeApi } from './helpers/server.js';

const janitor = processJanitor();
afterEach(janitor.cleanup);

const KEY = 'vac-admin-key-0123456789';
const PEOPLE = 2000;

describe('tessera vacuum', () => {
  it('rewrites state.db without its free pages while no server runs, keeps every profile, and is refused while one does', async () => {
    const dataDir = janitor.tempDir();
    const start = async () => janitor.track(await spawnServer(['--data-dir', dataDir], { TESSERA_BOOTSTRAP_ADMIN_KEY: KEY }));
    const first = await start();
    const api = makeApi(first.url, KEY);
    const ds = await setupPeople(api);
    for (let from = 0; from < PEOPLE; from += 500) {
      const messages = Array.from({ length: 500 }, (_, i) => ({ datasetId: ds.crm, record: { crmId: `V-${from + i}`, personalEmail: { address: `v${from + i}@example.com` } } }));
      expect((await ingestBatch(api, messages)).status).toBe(207);
    }
    const refused = runCli(['vacuum', '--data-dir', dataDir]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(`tessera: data dir ${dataDir} is in use by another Tessera process (pid ${first.child.pid} `);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    // Free pages, as a migration that copies a table leaves them: 4 MB written and dropped.
    const db = new Database(join(dataDir, 'state.db'));
    db.exec('CREATE TABLE leftover AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) SELECT i, randomblob(4000) AS pad FROM n; DROP TABLE leftover;');
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();

    const r = runCli(['vacuum', '--data-dir', dataDir, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const { before, after } = JSON.parse(r.stdout) as Record<'before' | 'after', { bytes: number; pages: number; freePages: number }>;
    expect(before.freePages).toBeGreaterThanOrEqual(1000);
    expect(after.freePages).toBe(0);
    expect(after.pages).toBeLessThanOrEqual(before.pages - before.freePages);
    expect(after.bytes).toBe(after.pages * 4096);
    expect(statSync(join(dataDir, 'state.db')).size).toBe(after.bytes);
    expect(statSync(join(dataDir, 'state.db-wal'), { throwIfNoEntry: false })?.size ?? 0).toBe(0);
    expect(runCli(['vacuum', '--data-dir', dataDir]).stdout).toMatch(/^state\.db: [\d.]+ MB → [\d.]+ MB \(0 pages fewer; 0 were free\) in [\d.]+ s\n$/);

    const again = makeApi((await start()).url, KEY);
    for (const i of [0, PEOPLE / 2, PEOPLE - 1]) {
      expect((await again('GET', `/api/instances/default/profiles?identity=crmId:V-${i}`)).body.attributes).toEqual({ crmId: `V-${i}`, personalEmail: { address: `v${i}@example.com` } });
    }
  });

  it('says so when the data dir holds no store, and leaves nothing there', () => {
    const dataDir = join(janitor.tempDir(), 'nothing-here');
    const r = runCli(['vacuum', '--data-dir', dataDir]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`tessera: data dir ${dataDir} holds no state.db: nothing to vacuum (is it the data dir a server ran on?)\n`);
    expect(existsSync(dataDir)).toBe(false);
  });
});
