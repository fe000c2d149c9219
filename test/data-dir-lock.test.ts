import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TesseraError } from '../src/domain/errors.js';
import { openTessera } from '../src/runtime/tessera.js';
import { LOCK_HOLDER_FILE } from '../src/storage/sqlite/data-dir-lock.js';
import { setupPeople } from './helpers/fixtures.js';
import { processJanitor, runCli, spawnServer } from './helpers/process.js';
import { makeApi } from './helpers/server.js';

const janitor = processJanitor();
afterEach(janitor.cleanup);

const KEY = 'lock-admin-key-0123456789';
const offline = { TESSERA_KEY: '', TESSERA_URL: '' };
const inUse = (dataDir: string, pid: number): RegExp =>
  new RegExp(`^tessera: data dir ${dataDir} is in use by another Tessera process \\(pid ${pid} on ${hostname()}, since \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\)\\. One process at a time runs on an embedded data dir: stop that one first, or send the work to it over HTTP \\(e\\.g\\. tessera import --server URL\\)\\.\\n$`);

describe('one process at a time on an embedded data dir', () => {
  it('a second server, an import or a rebuild on a data dir a server runs is refused at once, naming the holder; the keys commands still work', async () => {
    const dataDir = janitor.tempDir();
    const first = janitor.track(await spawnServer(['--data-dir', dataDir], { TESSERA_BOOTSTRAP_ADMIN_KEY: KEY }));
    const api = makeApi(first.url, KEY);
    const ds = await setupPeople(api);
    const pid = first.child.pid!;
    expect(JSON.parse(readFileSync(join(dataDir, LOCK_HOLDER_FILE), 'utf8'))).toMatchObject({ pid, host: hostname() });

    await expect(spawnServer(['--data-dir', dataDir], { TESSERA_BOOTSTRAP_ADMIN_KEY: KEY })).rejects.toThrow(/serve exited: tessera: data dir .* is in use by another Tessera process/);
    const file = join(dataDir, 'crm.ndjson');
    writeFileSync(file, '{"crmId":"lock-1"}\n');
    const imported = runCli(['import', file, '--dataset', 'crm', '--data-dir', dataDir], offline);
    expect(imported.status).toBe(1);
    expect(imported.stderr).toMatch(inUse(dataDir, pid));
    const rebuilt = runCli(['rebuild', '--data-dir', dataDir], offline);
    expect(rebuilt.status).toBe(1);
    expect(rebuilt.stderr).toMatch(inUse(dataDir, pid));
    const keys = runCli(['keys', 'list', '--instance', 'default', '--data-dir', dataDir]);
    expect(keys.status, keys.stderr).toBe(0);
    expect(keys.stdout).toContain('admin');

    // The first server was not disturbed: it takes and serves records as before.
    expect((await api('POST', `/api/instances/default/collection/${ds.crm}`, { body: { record: { crmId: 'lock-0' } } })).status).toBe(200);
    expect((await api('GET', '/api/instances/default/profiles?identity=crmId:lock-0')).status).toBe(200);
  });

  it('the lock dies with its process (kill -9): the next server starts on the data dir; after a clean stop an import runs on it', async () => {
    const dataDir = janitor.tempDir();
    const first = janitor.track(await spawnServer(['--data-dir', dataDir], { TESSERA_BOOTSTRAP_ADMIN_KEY: KEY }));
    const ds = await setupPeople(makeApi(first.url, KEY));
    expect((await makeApi(first.url, KEY)('POST', `/api/instances/default/collection/${ds.crm}`, { body: { record: { crmId: 'kill-0' } } })).status).toBe(200);
    first.child.kill('SIGKILL');
    await first.exited;

    const second = janitor.track(await spawnServer(['--data-dir', dataDir], { TESSERA_BOOTSTRAP_ADMIN_KEY: KEY }));
    expect(JSON.parse(readFileSync(join(dataDir, LOCK_HOLDER_FILE), 'utf8'))).toMatchObject({ pid: second.child.pid });
    expect((await makeApi(second.url, KEY)('GET', '/api/instances/default/profiles?identity=crmId:kill-0')).status).toBe(200);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    expect(existsSync(join(dataDir, LOCK_HOLDER_FILE))).toBe(false);

    const file = join(dataDir, 'crm.ndjson');
    writeFileSync(file, '{"crmId":"kill-1"}\n');
    const imported = runCli(['import', file, '--dataset', 'crm', '--data-dir', dataDir], offline);
    expect(imported.status, imported.stderr).toBe(0);
    expect(imported.stdout).toMatch(/batch \S+: success — 1 row read, 1 applied, 0 failed/);
  });

  it('holds within one process too: a second Tessera on the data dir is refused until the first closes', async () => {
    const dataDir = janitor.tempDir();
    const first = await openTessera({ dataDir });
    const second = openTessera({ dataDir });
    await expect(second).rejects.toBeInstanceOf(TesseraError);
    await expect(second).rejects.toMatchObject({ kind: 'conflict', code: 'data_dir_in_use' });
    await first.close();
    const third = await openTessera({ dataDir });
    await third.close();
  });
});
