import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { LakeLine } from '../src/ports/lake.js';
import { FsLake } from '../src/storage/lake-fs/fs-lake.js';
import { ingestBatch, setupPeople } from './helpers/fixtures.js';
import { processJanitor, runCli, spawnServer } from './helpers/process.js';
import { dropSchema, freshSchemaName, PG_URL, postgresForTests } from './helpers/postgres.js';
import { makeApi } from './helpers/server.js';

/**
 * A data dir on a small tmpfs of its own, so that the disk really fills up (ENOSPC). Mounting
 * needs root (CAP_SYS_ADMIN): in CI this machine has it and the test must run; elsewhere it is
 * skipped, saying why, when the mount is refused. Whether a mount is allowed is tried at once (on
 * a directory of its own, let go straight away); the test's own tmpfs is mounted only once a test
 * of this file is about to run, so that a run that filters every test out (`vitest -t …`) leaves
 * no mount behind (vitest runs no hooks for a file none of whose tests run).
 */
const mountAt = (dir: string, size: string, remount = false): boolean =>
  spawnSync('mount', ['-t', 'tmpfs', '-o', `${remount ? 'remount,' : ''}size=${size}`, 'tmpfs', dir]).status === 0;
function mountAllowed(): boolean {
  const probe = mkdtempSync(join(tmpdir(), 'tessera-full-probe-'));
  try {
    if (!mountAt(probe, '1m')) return false;
    spawnSync('umount', [probe]);
    return true;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}
const mountable = mountAllowed();
if (!mountable) {
  if (process.env['CI']) throw new Error('could not mount a tmpfs: the storage-full test needs root in CI');
  process.stderr.write('storage-full test skipped: mounting a tmpfs was refused (it needs root)\n');
}
const withPostgres = mountable && (await postgresForTests());
let mountPoint = '';
const mount = (size: string, remount = false): boolean => mountAt(mountPoint, size, remount);
const cleanups: Array<() => Promise<void>> = [];
beforeAll(() => {
  if (!mountable) return;
  mountPoint = mkdtempSync(join(tmpdir(), 'tessera-full-'));
  if (!mount('4m')) throw new Error(`could not mount a tmpfs at ${mountPoint}, though a mount was allowed a moment before`);
});
afterAll(async () => {
  // Every cleanup runs (the mounts are let go) even when one fails; the first failure is then reported.
  const failures: unknown[] = [];
  for (const c of cleanups.reverse()) await c().catch((err: unknown) => failures.push(err));
  if (mountPoint !== '') {
    spawnSync('umount', [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  }
  if (failures.length > 0) throw failures[0];
});

const janitor = processJanitor();
afterEach(janitor.cleanup);

const KEY = 'full-admin-key-0123456789';
const PAD = 'x'.repeat(2000);

describe.skipIf(!mountable)('a full disk under the data dir', () => {
  it('answers 503 storage_full with Retry-After, keeps serving, takes the same batch once there is room, and loses nothing acknowledged', async () => {
    const dataDir = join(mountPoint, 'data');
    const start = async () => janitor.track(await spawnServer(['--data-dir', dataDir], { TESSERA_BOOTSTRAP_ADMIN_KEY: KEY }));
    const s = await start();
    const api = makeApi(s.url, KEY);
    const ds = await setupPeople(api);
    const batchOf = (n: number) => Array.from({ length: 50 }, (_, i) => ({ datasetId: ds.crm, record: { crmId: `F-${n}-${i}`, personalEmail: { address: `f${n}.${i}@example.com` }, pad: PAD } }));

    let acknowledged = 0;
    let refused: { n: number; res: Awaited<ReturnType<typeof ingestBatch>> } | undefined;
    for (let n = 0; n < 200 && !refused; n++) {
      const res = await ingestBatch(api, batchOf(n));
      if (res.status === 207) acknowledged++;
      else refused = { n, res };
    }
    expect(refused, 'the disk never filled up').toBeDefined();
    expect(acknowledged).toBeGreaterThan(0);
    expect(refused!.res.status).toBe(503);
    expect(refused!.res.headers.get('retry-after')).toBe('10');
    expect(refused!.res.body.code).toBe('storage_full');
    expect(String(refused!.res.body.message)).toMatch(/^the disk of Tessera's data is full \((ENOSPC|SQLITE_FULL) while writing the (lake|state database)\): nothing of this request was acknowledged; free space there \(or grow it\) and send it again$/);
    expect((await api('GET', '/healthz')).status).toBe(200);
    expect((await api('GET', `/api/instances/default/profiles?identity=crmId:F-0-0`)).status).toBe(200);
    // Nothing of the refused batch was committed (its statements may have run before the lake failed them).
    for (const i of [0, 49]) expect((await api('GET', `/api/instances/default/profiles?identity=crmId:F-${refused!.n}-${i}`)).status).toBe(404);

    // Room again: the same batch is taken.
    expect(mount('64m', true)).toBe(true);
    expect((await ingestBatch(api, batchOf(refused!.n))).status).toBe(207);
    acknowledged++;
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);

    // The lake holds every acknowledged record whole: rebuilt from it, each of them is a profile.
    const rebuilt = runCli(['rebuild', '--data-dir', dataDir]);
    expect(rebuilt.status, rebuilt.stderr).toBe(0);
    const again = makeApi((await start()).url, KEY);
    const last = [...Array.from({ length: refused!.n }, (_, n) => n), refused!.n];
    expect(last).toHaveLength(acknowledged);
    for (const n of last) {
      for (const i of [0, 49]) {
        const p = await again('GET', `/api/instances/default/profiles?identity=crmId:F-${n}-${i}`);
        expect(p.status, `F-${n}-${i}`).toBe(200);
        expect(p.body.attributes).toMatchObject({ crmId: `F-${n}-${i}`, personalEmail: { address: `f${n}.${i}@example.com` } });
      }
    }
  });

  it('a lake that cannot take a group fails the group: none of its records is committed, though the state database has room', async () => {
    // The lake on a 1 MB tmpfs of its own; the state database beside it on the ordinary disk.
    const dataDir = mkdtempSync(join(tmpdir(), 'tessera-lakefull-'));
    const lakeDir = join(dataDir, 'lake');
    mkdirSync(lakeDir);
    expect(mountAt(lakeDir, '1m')).toBe(true);
    cleanups.push(async () => {
      spawnSync('umount', [lakeDir]);
      rmSync(dataDir, { recursive: true, force: true });
    });
    const s = janitor.track(await spawnServer(['--data-dir', dataDir], { TESSERA_BOOTSTRAP_ADMIN_KEY: KEY }));
    const api = makeApi(s.url, KEY);
    const ds = await setupPeople(api);
    const batchOf = (n: number) => Array.from({ length: 50 }, (_, i) => ({ datasetId: ds.crm, record: { crmId: `L-${n}-${i}`, pad: PAD } }));
    let refused: { n: number; res: Awaited<ReturnType<typeof ingestBatch>> } | undefined;
    let acknowledged = 0;
    for (let n = 0; n < 100 && !refused; n++) {
      const res = await ingestBatch(api, batchOf(n));
      if (res.status === 207) acknowledged++;
      else refused = { n, res };
    }
    expect(refused, 'the lake never filled up').toBeDefined();
    expect(refused!.res.status).toBe(503);
    expect(String(refused!.res.body.message)).toMatch(/^the disk of Tessera's data is full \(ENOSPC while writing the lake\)/);
    for (const i of [0, 49]) expect((await api('GET', `/api/instances/default/profiles?identity=crmId:L-${refused!.n}-${i}`)).status).toBe(404);
    for (let n = 0; n < acknowledged; n++) expect((await api('GET', `/api/instances/default/profiles?identity=crmId:L-${n}-49`)).status, `L-${n}-49`).toBe(200);
    // Room again: the same batch is taken, and applied.
    expect(mountAt(lakeDir, '64m', true)).toBe(true);
    expect((await ingestBatch(api, batchOf(refused!.n))).status).toBe(207);
    expect((await api('GET', `/api/instances/default/profiles?identity=crmId:L-${refused!.n}-49`)).status).toBe(200);
  });

  it('the lake cuts off a write the disk took only part of: the next append lands where its positions say, and every line reads back whole', async () => {
    const lake = new FsLake(join(mountPoint, 'lake-only'));
    const line = (i: number, pad: string): LakeLine => ({ instanceId: 'default', datasetId: 'ds', recordId: `r-${i}`, receivedAt: Date.UTC(2026, 10, 29), path: 'streaming', requestId: 'q', caller: null, recordJson: JSON.stringify({ i, pad }) });
    const [first] = await lake.append([line(0, 'a')]);
    // The disk full but for 40 KB, and a group of 200 KB.
    const fs = statfsSync(mountPoint);
    const filler = join(mountPoint, 'filler');
    writeFileSync(filler, Buffer.alloc(Number(fs.bavail) * Number(fs.bsize) - 40 * 1024));
    await expect(lake.append(Array.from({ length: 100 }, (_, i) => line(100 + i, 'x'.repeat(2000))))).rejects.toMatchObject({ code: 'storage_full', kind: 'unavailable' });
    expect(statSync(join(mountPoint, 'lake-only', first!.segment)).size).toBe(first!.end);
    rmSync(filler);
    const next = await lake.append([line(1, 'b'), line(2, 'c')]);
    expect(next.map((p) => p.segment)).toEqual([first!.segment, first!.segment]);
    const read: Array<{ id: string; end: number }> = [];
    for await (const { entry, end } of lake.read(first!.segment, 0)) read.push({ id: entry.recordId, end });
    expect(read).toEqual([
      { id: 'r-0', end: first!.end },
      { id: 'r-1', end: next[0]!.end },
      { id: 'r-2', end: next[1]!.end },
    ]);
    await lake.close();
  });

  it.skipIf(!withPostgres)('on PostgreSQL: tables that cannot grow answer 503 storage_full, and no record is kept as failed for it', async () => {
    // The test schema's tables in a tablespace on a 3 MB tmpfs of their own (PostgreSQL runs on this machine).
    const dir = mkdtempSync(join(tmpdir(), 'tessera-pgfull-'));
    expect(mountAt(dir, '3m')).toBe(true);
    expect(spawnSync('chown', ['postgres:postgres', dir]).status).toBe(0);
    const schema = await freshSchemaName();
    const tablespace = `${schema}_space`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`CREATE TABLESPACE ${tablespace} LOCATION '${dir}'`);
    cleanups.push(async () => {
      try {
        await dropSchema(schema);
        await admin.query('CHECKPOINT');
        await admin.query(`DROP TABLESPACE ${tablespace}`);
      } finally {
        await admin.end();
        spawnSync('umount', [dir]);
        rmSync(dir, { recursive: true, force: true });
      }
    });
    const url = new URL(PG_URL);
    url.searchParams.set('options', `-c default_tablespace=${tablespace}`);
    const args = ['--backend', 'postgres', '--postgres-url', url.toString(), '--postgres-schema', schema, '--data-dir', janitor.tempDir()];
    const s = janitor.track(await spawnServer(args, { TESSERA_BOOTSTRAP_ADMIN_KEY: KEY }));
    const api = makeApi(s.url, KEY);
    const ds = await setupPeople(api);
    // The URL's options are taken with the node's own: its tables are in its schema, in the tablespace.
    const placed = await admin.query<{ schemaname: string; tablespace: string | null }>("SELECT schemaname, tablespace FROM pg_tables WHERE tablename = 'fragments' AND schemaname IN ($1, 'public')", [schema]);
    expect(placed.rows).toEqual([{ schemaname: schema, tablespace }]);
    let refused: Awaited<ReturnType<typeof ingestBatch>> | undefined;
    for (let n = 0; n < 300 && !refused; n++) {
      const res = await ingestBatch(api, Array.from({ length: 50 }, (_, i) => ({ datasetId: ds.crm, record: { crmId: `P-${n}-${i}`, pad: PAD } })));
      if (res.status !== 207) refused = res;
    }
    expect(refused, 'the tablespace never filled up').toBeDefined();
    expect(refused!.status).toBe(503);
    expect(refused!.headers.get('retry-after')).toBe('10');
    expect(refused!.body.code).toBe('storage_full');
    expect(String(refused!.body.message)).toBe("the disk of Tessera's data is full (53100 while writing the PostgreSQL database): nothing of this request was acknowledged; free space there (or grow it) and send it again");
    expect((await api('GET', `/api/instances/default/manage/datasets/${ds.crm}/failed`)).body.failed).toEqual([]);
    expect((await api('GET', '/api/instances/default/profiles?identity=crmId:P-0-0')).status).toBe(200);
  });
});
