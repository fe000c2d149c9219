import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { stringify as stringifyYaml } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';
import { makeApi } from './helpers/server.js';
import { setupPeople } from './helpers/fixtures.js';
import { processJanitor, runCli, spawnServer } from './helpers/process.js';
import { KEY_CACHE_MS } from '../src/services/keys.js';

const janitor = processJanitor();
const tempDir = janitor.tempDir;

/**
 * A port nothing listens on now, below Linux's ephemeral range (32768–60999), so no client connection
 * and no server on port 0 of a parallel test can be given it before the server under test binds it.
 */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const probe = createServer();
    probe.once('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' ? resolve(freePort()) : reject(e)));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(port)));
  });
afterEach(janitor.cleanup);

describe('tessera CLI', () => {
  it('serve prints a generated admin key once when none is configured', async () => {
    const dataDir = tempDir();
    const env = { TESSERA_BOOTSTRAP_ADMIN_KEY: '' };
    const first = await spawnServer(['--data-dir', dataDir], env);
    janitor.track(first);
    const key = /admin key \(shown only once, keep it\):\s+(\S+)/.exec(first.output())?.[1];
    expect(key).toMatch(/^tsk_/);
    const api = makeApi(first.url, key!);
    expect((await api('GET', '/api/instances/default/manage/keys')).status).toBe(200);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    const second = await spawnServer(['--data-dir', dataDir], env);
    janitor.track(second);
    expect(second.output()).not.toContain('shown only once');
    expect((await makeApi(second.url, key!)('GET', '/api/instances/default/manage/keys')).status).toBe(200);
  });

  it('reads TESSERA_PORT, TESSERA_DATA_DIR and TESSERA_BOOTSTRAP_ADMIN_KEY from the environment', async () => {
    const dataDir = tempDir();
    const port = await freePort();
    const s = await spawnServer([], { TESSERA_PORT: String(port), TESSERA_DATA_DIR: dataDir, TESSERA_BOOTSTRAP_ADMIN_KEY: 'env-admin-key-0123456789' });
    janitor.track(s);
    expect(s.url).toBe(`http://127.0.0.1:${port}`);
    expect(s.output()).toContain(`data dir ${dataDir}`);
    expect((await makeApi(s.url, 'env-admin-key-0123456789')('GET', '/api/instances/default/manage/settings')).status).toBe(200);
  });

  it('serve refuses settings that do not fit together, saying what to add', () => {
    const lag = runCli(['serve', '--data-dir', tempDir(), '--max-apply-lag', '500']);
    expect(lag.status).not.toBe(0);
    expect(lag.stderr).toContain('--max-apply-lag (TESSERA_MAX_APPLY_LAG_MS) bounds how far the workers of the scale-out mode are behind: it needs --nats-url');
    const bad = runCli(['serve', '--data-dir', tempDir(), '--max-apply-lag', 'soon'], { TESSERA_NATS_URL: 'nats://127.0.0.1:4222', TESSERA_BACKEND: 'postgres', TESSERA_POSTGRES_URL: 'postgres://postgres@127.0.0.1:5432/test' });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain('--max-apply-lag (TESSERA_MAX_APPLY_LAG_MS) must be a positive integer, got "soon"');
  });

  it('instances and keys commands act on the data dir, and the server honours them', async () => {
    const dataDir = tempDir();
    const created = runCli(['instances', 'create', 'acme', '--name', 'Acme', '--data-dir', dataDir, '--json']);
    expect(created.status, created.stderr).toBe(0);
    const acme = JSON.parse(created.stdout) as { id: string; adminKey: string };
    expect(acme.id).toBe('acme');
    const dup = runCli(['instances', 'create', 'acme', '--data-dir', dataDir]);
    expect(dup.status).toBe(1);
    expect(dup.stderr).toContain('already exists');

    const viewer = JSON.parse(runCli(['keys', 'create', '--instance', 'acme', '--role', 'viewer', '--name', 'dash', '--data-dir', dataDir, '--json']).stdout) as { id: string; key: string };
    const list = JSON.parse(runCli(['keys', 'list', '--instance', 'acme', '--data-dir', dataDir, '--json']).stdout) as Array<{ role: string }>;
    expect(list.map((k) => k.role).sort()).toEqual(['admin', 'viewer']);
    expect(runCli(['keys', 'list', '--instance', 'acme', '--data-dir', dataDir, '--json']).stdout).not.toContain(viewer.key);

    const s = await spawnServer(['--data-dir', dataDir], { TESSERA_BOOTSTRAP_ADMIN_KEY: '' });
    janitor.track(s);
    expect(s.output()).not.toContain('shown only once'); // not empty: no bootstrap
    const asViewer = makeApi(s.url, viewer.key);
    expect((await asViewer('GET', '/api/instances/acme/manage/datasets')).status).toBe(200);
    expect((await asViewer('POST', '/api/instances/acme/manage/namespaces', { body: { code: 'x1' } })).status).toBe(403);

    const rotated = JSON.parse(runCli(['keys', 'rotate', viewer.id, '--instance', 'acme', '--data-dir', dataDir, '--json']).stdout) as { key: string };
    expect((await makeApi(s.url, rotated.key)('GET', '/api/instances/acme/manage/datasets')).status).toBe(200);
    expect(runCli(['keys', 'revoke', viewer.id, '--instance', 'acme', '--data-dir', dataDir]).status).toBe(0);
    // A running server learns of a revocation made by another process within its key cache time.
    await new Promise((r) => setTimeout(r, KEY_CACHE_MS + 100));
    expect((await asViewer('GET', '/api/instances/acme/manage/datasets')).status).toBe(401);
    expect((await makeApi(s.url, rotated.key)('GET', '/api/instances/acme/manage/datasets')).status).toBe(401);

    const bad = runCli(['keys', 'create', '--instance', 'nope', '--role', 'viewer', '--data-dir', dataDir]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('instance nope does not exist');
  });

  it('SIGTERM finishes in-flight ingestion before exiting; every acknowledged record is there after restart', async () => {
    const dataDir = tempDir();
    const env = { TESSERA_BOOTSTRAP_ADMIN_KEY: 'sig-admin-key-0123456789' };
    const s = await spawnServer(['--data-dir', dataDir], env);
    janitor.track(s);
    const api = makeApi(s.url, 'sig-admin-key-0123456789');
    const ds = await setupPeople(api);
    const sends: Array<Promise<{ status: number }>> = [];
    for (let b = 0; b < 40; b++) {
      const messages = Array.from({ length: 250 }, (_, i) => ({ datasetId: ds.crm, record: { crmId: `T-${b}-${i}` } }));
      sends.push(api('POST', '/api/instances/default/collection/batch', { body: { messages } }).catch(() => ({ status: 0 })));
    }
    await sends[0]; // the first is answered, the rest are queued or in flight
    s.child.kill('SIGTERM');
    const statuses = (await Promise.all(sends)).map((r) => r.status);
    expect(await s.exited).toBe(0);
    const acked = statuses.map((st, b) => (st === 207 ? b : -1)).filter((b) => b >= 0);
    expect(acked.length).toBeGreaterThan(0);
    const again = await spawnServer(['--data-dir', dataDir], env);
    janitor.track(again);
    const api2 = makeApi(again.url, 'sig-admin-key-0123456789');
    for (const b of acked) {
      for (const i of [0, 249]) expect((await api2('GET', `/api/instances/default/profiles?identity=crmId:T-${b}-${i}`)).status).toBe(200);
    }
    expect(statuses.every((st) => st === 207 || st === 503 || st === 0)).toBe(true);
  });
});

describe('tessera import', () => {
  it('applies unification settings from YAML and runs a refresh stage by stage, against a server and on the data dir', async () => {
    const dataDir = tempDir();
    const key = 'ref-admin-key-0123456789';
    const s = janitor.track(await spawnServer(['--data-dir', dataDir], { TESSERA_BOOTSTRAP_ADMIN_KEY: key }));
    const api = makeApi(s.url, key);
    await api('POST', '/api/instances/default/manage/namespaces', { body: { code: 'febrlId' } });
    const schema = await api('POST', '/api/instances/default/manage/schemas', {
      body: { name: 'Febrl', class: 'profile', jsonSchema: { type: 'object', properties: { postcode: { type: 'string' }, street_number: { type: 'string' }, soc_sec_id: { type: 'string' }, date_of_birth: { type: 'string' } } }, identities: [{ path: 'rec_id', namespace: 'febrlId', primary: true }] },
    });
    await api('POST', '/api/instances/default/manage/datasets', { body: { name: 'people', schemaId: String(schema.body.id) } });
    const file = join(__dirname, '..', '..', 'shared', 'data', 'febrl', 'dataset3.csv');
    expect(runCli(['import', file, '--dataset', 'people', '--server', s.url, '--key', key]).status).toBe(0);
    const rules = JSON.parse(readFileSync(join(__dirname, '..', 'bench', 'unify', 'febrl.rules.json'), 'utf8')) as Record<string, unknown>;
    const yamlFile = join(dataDir, 'unification.yaml');
    writeFileSync(yamlFile, stringifyYaml(rules));
    const applied = runCli(['unification', 'apply', yamlFile, '--server', s.url, '--key', key]);
    expect(applied.status, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('unification settings of default applied');
    const shown = runCli(['unification', 'show', '--server', s.url, '--key', key]);
    expect(JSON.parse(shown.stdout)).toMatchObject({ mode: 'rules', datasets: [{ dataset: 'people' }] });
    const r = runCli(['refresh', '--watch', '--server', s.url, '--key', key]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/extract: started\nunify: started\nenrich: started\npublish: started/);
    expect(r.stdout).toMatch(/refresh \S+: success in [\d.]+ s \(extract [\d.]+ s, unify [\d.]+ s, enrich [\d.]+ s, publish [\d.]+ s\) — 5000 records, \d+ pairs compared, \d+ profiles/);
    // All five records of person 552 (typos in the street and the name) are one profile now.
    const ring = await api('GET', '/api/instances/default/profiles?identity=febrlId:rec-552-org');
    const fragments = await api('GET', `/api/instances/default/profiles/${String(ring.body.customerId)}/fragments`);
    expect((fragments.body['fragments'] as unknown as Array<{ recordKey: string }>).map((f) => f.recordKey).sort()).toEqual(
      ['org', 'dup-0', 'dup-1', 'dup-2', 'dup-3'].map((k) => `febrlId:rec-552-${k}`).sort(),
    );
    s.child.kill('SIGTERM');
    await s.exited;
    const down = runCli(['import', file, '--dataset', 'people', '--server', s.url, '--key', 'imp-admin-key-0123456789']);
    expect(down.status).toBe(1);
    expect(down.stderr).toContain(`cannot reach Tessera at ${s.url} (ECONNREFUSED); is it running`);
    const offline = runCli(['refresh', '--data-dir', dataDir], { TESSERA_KEY: '', TESSERA_URL: '' });
    expect(offline.status, offline.stderr).toBe(0);
    expect(offline.stdout).toMatch(/refresh \S+: success .*\(0 new, 0 merged, 0 split\)/);
  });

  it('imports a file into a dataset through a running server or on its data dir, and sums up the row errors', async () => {
    const dataDir = tempDir();
    const s = janitor.track(await spawnServer(['--data-dir', dataDir], { TESSERA_BOOTSTRAP_ADMIN_KEY: 'imp-admin-key-0123456789' }));
    const api = makeApi(s.url, 'imp-admin-key-0123456789');
    await api('POST', '/api/instances/default/manage/namespaces', { body: { code: 'febrlId' } });
    const schema = await api('POST', '/api/instances/default/manage/schemas', {
      body: { name: 'Febrl', class: 'profile', jsonSchema: { type: 'object', properties: { date_of_birth: { type: 'string', format: 'date' }, postcode: { type: 'string' } } }, identities: [{ path: 'rec_id', namespace: 'febrlId', primary: true }] },
    });
    await api('POST', '/api/instances/default/manage/datasets', { body: { name: 'people', schemaId: String(schema.body.id) } });
    const file = join(__dirname, '..', '..', 'shared', 'data', 'febrl', 'dataset3.csv');
    const r = runCli(['import', file, '--dataset', 'people', '--server', s.url, '--key', 'imp-admin-key-0123456789', '--map', 'soc_sec_id=ssn']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/batch \S+: partial — 5000 rows read, 4965 applied, 35 failed in [\d.]+ s \(\d+ rows\/s\)/);
    expect(r.stdout).toContain('first row errors:');
    expect(r.stdout).toMatch(/row \d+: date_of_birth: not a valid date/);
    const p = await api('GET', '/api/instances/default/profiles?identity=febrlId:rec-1496-org');
    expect(p.body.attributes['ssn']).toBe('1804974');
    const bad = runCli(['import', file, '--dataset', 'people', '--server', s.url, '--key', 'imp-admin-key-0123456789', '--error-threshold', '0.1']);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain('over the error threshold');
    const noKey = runCli(['import', file, '--dataset', 'people', '--server', s.url], { TESSERA_KEY: '' });
    expect(noKey.status).toBe(1);
    expect(noKey.stderr).toContain('API key');
    const unknownDataset = runCli(['import', file, '--dataset', 'nope', '--server', s.url, '--key', 'imp-admin-key-0123456789']);
    expect(unknownDataset.status).toBe(1);
    expect(unknownDataset.stderr).toMatch(/^tessera: POST \/api\/instances\/default\/batches: 4\d\d \w+: datasetId nope does not name a dataset/);
    const notUrl = runCli(['import', file, '--dataset', 'people', '--server', 'localhost-8080', '--key', 'imp-admin-key-0123456789']);
    expect(notUrl.status).toBe(1);
    expect(notUrl.stderr).toContain('--server (or TESSERA_URL) is an http(s) URL such as http://localhost:8080, got "localhost-8080"');

    // With the server stopped, on the data dir: the same batch pipeline, seen by the server afterwards.
    s.child.kill('SIGTERM');
    await s.exited;
    const down = runCli(['import', file, '--dataset', 'people', '--server', s.url, '--key', 'imp-admin-key-0123456789']);
    expect(down.status).toBe(1);
    expect(down.stderr).toContain(`cannot reach Tessera at ${s.url} (ECONNREFUSED); is it running`);
    const offline = { TESSERA_KEY: '', TESSERA_URL: '' };
    const ndjson = join(dataDir, 'more.ndjson');
    writeFileSync(ndjson, '{"rec_id":"off-1","postcode":"2600"}\n{"rec_id":"off-2","date_of_birth":"19991301"}\n{"rec_id":"off-3"}\n');
    const onDisk = runCli(['import', ndjson, '--dataset', 'people', '--data-dir', dataDir, '--error-threshold', '50'], offline);
    expect(onDisk.status, onDisk.stderr).toBe(0);
    expect(onDisk.stdout).toMatch(/batch \S+: partial — 3 rows read, 2 applied, 1 failed/);
    expect(onDisk.stdout).toMatch(/row 2: .*date_of_birth/);
    expect(runCli(['import', ndjson, '--dataset', 'people', '--data-dir', dataDir, '--error-threshold', 'lots'], offline).stderr).toContain('--error-threshold takes a percentage');
    const unknown = runCli(['import', ndjson, '--dataset', 'nope', '--data-dir', dataDir], offline);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('datasetId nope does not name a dataset');
    const again = janitor.track(await spawnServer(['--data-dir', dataDir], { TESSERA_BOOTSTRAP_ADMIN_KEY: 'imp-admin-key-0123456789' }));
    const p2 = await makeApi(again.url, 'imp-admin-key-0123456789')('GET', '/api/instances/default/profiles?identity=febrlId:off-1');
    expect(p2.body.attributes).toEqual({ rec_id: 'off-1', postcode: '2600' });
  });
});

describe('logs', () => {
  it('are JSON with request ids, and hold no keys and no personal data from query strings', async () => {
    const dataDir = tempDir();
    const s = janitor.track(await spawnServer(['--data-dir', dataDir, '--log-level', 'info'], { TESSERA_BOOTSTRAP_ADMIN_KEY: 'log-admin-key-0123456789' }));
    const api = makeApi(s.url, 'log-admin-key-0123456789');
    await api('GET', '/api/instances/default/profiles?identity=email:private.person@example.com');
    await new Promise((r) => setTimeout(r, 200));
    const lines = s.output().split('\n').filter((l) => l.startsWith('{'));
    const completed = lines.map((l) => JSON.parse(l) as { msg?: string; reqId?: string; req?: { path?: string } }).filter((l) => l.msg === 'incoming request');
    expect(completed.some((l) => l.req?.path === '/api/instances/default/profiles' && typeof l.reqId === 'string')).toBe(true);
    expect(s.output()).not.toContain('private.person');
    expect(s.output()).not.toContain('log-admin-key-0123456789');
  });
});
