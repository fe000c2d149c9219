import { describe, expect, it } from 'vitest';
import { ManualClock } from '../src/domain/clock.js';
import { ingestBatch, profileByIdentity, usePeopleServer } from './helpers/fixtures.js';
import type { Doc } from './helpers/server.js';

const T0 = Date.UTC(2026, 5, 1, 2, 0, 0);
const HOUR = 3_600_000;
const clock = new ManualClock(T0);
const ctx = usePeopleServer(clock);
const base = '/api/instances/default/manage';

const FIELDS = { first: 'person.name.firstName', last: 'person.name.lastName', street: 'homeAddress.street1', email: 'personalEmail.address' };
const CONFIG = {
  mode: 'rules',
  datasets: [
    { dataset: 'crm', fields: FIELDS, winner: 'mostRecent', dedupRules: [{ name: 'same name and street', conditions: [{ field: 'first', normalizers: ['case', 'nameAlias'] }, { field: 'last', normalizers: ['case'] }, { field: 'street', normalizers: ['case', 'symbols', 'address'] }] }] },
    { dataset: 'web', fields: FIELDS },
  ],
  pairs: [
    {
      datasets: ['crm', 'web'],
      rules: [
        {
          name: 'name and street',
          conditions: [
            { field: 'first', normalizers: ['case', 'nameAlias'] },
            { field: 'last', normalizers: ['case'], similarity: 'jaroWinkler', precision: 'high' },
            { field: 'street', normalizers: ['case', 'symbols', 'address'] },
          ],
        },
        { name: 'email', conditions: [{ field: 'email', normalizers: ['case', 'whitespace'] }] },
      ],
    },
  ],
  enrichment: ['emailDomain', 'phoneCountry', 'nameCasing'],
};

const person = (dataset: string, crmId: string, first: string, last: string, street: string, extra: Record<string, unknown> = {}) => ({
  datasetId: dataset,
  record: { crmId, person: { name: { firstName: first, lastName: last } }, homeAddress: { street1: street, city: 'Leeds' }, ...extra },
});
const send = async (...messages: unknown[]): Promise<void> => {
  const res = await ingestBatch(ctx.ts.api, messages);
  expect(res.status).toBe(207);
  expect((res.body['results'] as unknown as Array<{ status: number }>).every((r) => r.status < 300)).toBe(true);
};
const idOf = async (identity: string): Promise<string> => {
  const res = await profileByIdentity(ctx.ts.api, identity);
  expect(res.status).toBe(200);
  return String(res.body.customerId);
};
const refresh = async (): Promise<Doc> => {
  const res = await ctx.ts.api('POST', `${base}/refresh?wait=true`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
};
const allIds = async (): Promise<string[]> => {
  const res = await ctx.ts.api<{ customerIds: string[] }>('GET', '/api/instances/default/profiles?limit=1000');
  return res.body.customerIds;
};
const profile = (id: string) => ctx.ts.api('GET', `/api/instances/default/profiles/${id}`);

describe('unification settings', () => {
  it('refuses a configuration naming an unknown dataset or enrichment step, with where and why', async () => {
    const res = await ctx.ts.api('PUT', `${base}/unification`, { body: { ...CONFIG, datasets: [{ dataset: 'nope' }], enrichment: ['horoscope'] } });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('invalid_unification_config');
    expect(res.body.details).toEqual([
      { path: '/datasets/0/dataset', message: 'dataset nope does not exist' },
      { path: '/pairs/0/datasets/0', message: 'dataset crm is not in the match order (datasets)' },
      { path: '/pairs/0/datasets/1', message: 'dataset web is not in the match order (datasets)' },
      { path: '/enrichment/0', message: 'unknown enrichment step horoscope; known: emailDomain, phoneCountry, ageBand, nameCasing' },
    ]);
    const shape = await ctx.ts.api('PUT', `${base}/unification`, { body: { mode: 'fuzzy', datasets: [] } });
    expect(shape.status).toBe(400);
    expect((await ctx.ts.api('GET', `${base}/unification`)).status).toBe(404);
    expect((await ctx.ts.api('POST', `${base}/refresh`)).body.code).toBe('unification_not_configured');
  });

  it('stores a valid configuration and gives it back', async () => {
    const res = await ctx.ts.api('PUT', `${base}/unification`, { body: CONFIG });
    expect(res.status).toBe(200);
    const got = await ctx.ts.api('GET', `${base}/unification`);
    expect(got.body).toEqual({ ...CONFIG, nextRunAt: null });
  });
});

describe('refresh runs', () => {
  it('matches "Deborah Smith, 12 High Street" with "debby smith, 12 high st" across datasets; the absorbed id keeps resolving', async () => {
    await send(
      person(ctx.ds.crm, 'C-DEB', 'Deborah', 'Smith', '12 High Street', { personalEmail: { address: 'deb@Example.com' }, mobilePhone: { number: '+44 7400 123456' }, loyalty: { tier: 'silver' }, timestamp: '2026-01-01T00:00:00Z' }),
      person(ctx.ds.web, 'W-DEB', 'debby', 'smith', '12 high st', { loyalty: { tier: 'bronze' }, timestamp: '2026-02-01T00:00:00Z' }),
      person(ctx.ds.crm, 'C-ANN', 'Ann', 'Lee', '3 Low Road'),
    );
    const crm = await idOf('crmId:C-DEB');
    const web = await idOf('crmId:W-DEB');
    expect(crm).not.toBe(web);
    const activity = { ActivityId: 'ACT-DEB-1', CustomerId: web, ActivityTime: new Date(T0).toISOString(), ActivityType: 'visit', Title: 'store visit' };
    expect((await ctx.ts.api('POST', '/api/instances/default/data/UnifiedActivity', { body: activity })).status).toBe(201);
    const run = await refresh();
    expect(run.status).toBe('success');
    expect((run['stages'] as unknown as Array<{ name: string }>).map((s) => s.name)).toEqual(['extract', 'unify', 'enrich', 'publish']);
    expect(run.counts).toMatchObject({ records: 3, clusters: 2, clustersMerged: 1, clustersCreated: 0, clustersSplit: 0 });
    const survivor = crm < web ? crm : web; // one record each: the older id survives
    const absorbed = survivor === crm ? web : crm;
    expect(await idOf('crmId:C-DEB')).toBe(survivor);
    expect(await idOf('crmId:W-DEB')).toBe(survivor);
    const p = await profile(absorbed);
    expect(p.status).toBe(200);
    expect(p.body.customerId).toBe(survivor);
    expect(p.body.previousCustomerIds).toEqual([absorbed]);
    expect(p.body.enrichment).toEqual({ emailDomain: 'example.com', isFreeMail: false, phoneCountry: 'GB', phoneType: 'mobile', firstName: expect.any(String), lastName: 'Smith' });
    // The instance merges by recency (web's bronze is newer) except where the settings say otherwise.
    expect(p.body.attributes['loyalty']).toEqual({ tier: 'bronze' });
    // The real-time activity sent to the absorbed id is on the survivor's timeline.
    const timeline = await ctx.ts.api('GET', `/api/instances/default/profiles/${survivor}/timeline`);
    expect((timeline.body['items'] as unknown as Array<{ activityId: string }>).map((i) => i.activityId)).toEqual(['ACT-DEB-1']);
  });

  it('merges by the policy set for a field: rank (dataset precedence) for loyalty.tier', async () => {
    expect((await ctx.ts.api('PUT', `${base}/unification`, { body: { ...CONFIG, merge: [{ path: 'loyalty.tier', policy: 'rank' }] } })).status).toBe(200);
    const p = await profile(await idOf('crmId:C-DEB'));
    expect(p.body.attributes['loyalty']).toEqual({ tier: 'silver' });
    expect(p.body.fieldSources['loyalty.tier']).toMatchObject({ source: 'dataset', datasetName: 'crm' });
    expect((await ctx.ts.api('PUT', `${base}/unification`, { body: { ...CONFIG, merge: [{ path: 'loyalty', policy: 'leastRecent' }] } })).status).toBe(200);
    expect((await profile(await idOf('crmId:C-DEB'))).body.attributes['loyalty']).toEqual({ tier: 'silver' });
    expect((await ctx.ts.api('PUT', `${base}/unification`, { body: CONFIG })).status).toBe(200);
    expect((await profile(await idOf('crmId:C-DEB'))).body.attributes['loyalty']).toEqual({ tier: 'bronze' });
  });

  it('explains a match rule by rule and condition by condition', async () => {
    const res = await ctx.ts.api('POST', `${base}/unification/explain`, { body: { left: 'crm/C-DEB', right: 'web/W-DEB' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ mode: 'rules', matched: true, sameProfile: true, left: { dataset: 'crm', recordKey: 'crmId:C-DEB' }, right: { dataset: 'web', recordKey: 'crmId:W-DEB' } });
    expect(res.body.rules).toEqual([
      {
        scope: 'pair:crm/web',
        rule: 'name and street',
        matched: true,
        conditions: [
          { field: 'first', left: 'deborah', right: 'deborah', similarity: 'exact', score: 1, threshold: 1, passed: true },
          { field: 'last', left: 'smith', right: 'smith', similarity: 'jaroWinkler', score: 1, threshold: 0.8, passed: true },
          { field: 'street', left: '12 high st', right: '12 high st', similarity: 'exact', score: 1, threshold: 1, passed: true },
        ],
      },
      { scope: 'pair:crm/web', rule: 'email', matched: false, conditions: [{ field: 'email', left: 'deb@example.com', right: null, similarity: 'exact', score: null, threshold: 1, passed: false }] },
    ]);
  });

  it('keeps every customerId when nothing changed between two runs', async () => {
    const before = await allIds();
    const run = await refresh();
    expect(run.counts).toMatchObject({ clustersMerged: 0, clustersCreated: 0, clustersSplit: 0 });
    expect(await allIds()).toEqual(before);
  });

  it('a new linking record merges two clusters; deleting it splits them again at the next run, the largest part keeping the id', async () => {
    await send(
      person(ctx.ds.crm, 'C-A1', 'Robert', 'Jones', '5 Elm Road'),
      person(ctx.ds.web, 'W-A2', 'Rob', 'Jones', '5 Elm Rd'),
      person(ctx.ds.crm, 'C-B1', 'Bobby', 'Jones', '77 Pine Parade', { personalEmail: { address: 'bj@home.example' } }),
    );
    await refresh();
    const a = await idOf('crmId:C-A1');
    const b = await idOf('crmId:C-B1');
    expect(await idOf('crmId:W-A2')).toBe(a);
    expect(a).not.toBe(b);
    // Matches A by name and street and B by email (a rule: the two crmIds keep streaming from linking them).
    await send(person(ctx.ds.web, 'W-LINK', 'Robert', 'Jones', '5 Elm Rd', { personalEmail: { address: 'BJ@home.example' } }));
    const link = await idOf('crmId:W-LINK');
    const merged = await refresh();
    // Two ids absorbed into A (the cluster with most records): B's and the linking record's own.
    expect(merged.counts).toMatchObject({ clustersMerged: 2, clustersCreated: 0 });
    expect(await idOf('crmId:C-B1')).toBe(a);
    expect(await idOf('crmId:W-LINK')).toBe(a);
    const p = await profile(b);
    expect(p.body.customerId).toBe(a);
    expect([...(p.body.previousCustomerIds as unknown as string[])].sort()).toEqual(expect.arrayContaining([b, link].sort()));

    const del = await ctx.ts.api('DELETE', `${base}/datasets/web/records/W-LINK`);
    expect(del.status).toBe(204);
    expect((await ctx.ts.api('DELETE', `${base}/datasets/web/records/W-LINK`)).body.code).toBe('record_not_found');
    // The identities only the deleted record carried are gone with it; B's email stays B's.
    expect((await profileByIdentity(ctx.ts.api, 'crmId:W-LINK')).status).toBe(404);
    expect(await idOf('email:bj@home.example')).toBe(a);
    const split = await refresh();
    expect(split.counts).toMatchObject({ clustersSplit: 1, clustersCreated: 1, clustersMerged: 0 });
    expect(await idOf('crmId:C-A1')).toBe(a);
    expect(await idOf('crmId:W-A2')).toBe(a);
    const bNow = await idOf('crmId:C-B1');
    expect(bNow).not.toBe(a);
    expect((await profile(bNow)).body.identities).toEqual([
      expect.objectContaining({ namespace: 'crmId', value: 'C-B1' }),
      expect.objectContaining({ namespace: 'email', value: 'bj@home.example' }),
    ]);
  });

  it('takes the winning duplicate of a dataset for the profile (most recent), and still links the other', async () => {
    await send(
      person(ctx.ds.crm, 'C-DUP-OLD', 'Margaret', 'Hill', '1 Mill Street', { loyalty: { tier: 'bronze' }, timestamp: '2026-01-01T00:00:00Z' }),
      person(ctx.ds.crm, 'C-DUP-NEW', 'Peggy', 'Hill', '1 Mill St', { loyalty: { tier: 'gold' }, timestamp: '2026-03-01T00:00:00Z' }),
    );
    const run = await refresh();
    expect(run.counts!['duplicatesSuppressed']).toBeGreaterThanOrEqual(1);
    const id = await idOf('crmId:C-DUP-OLD');
    expect(await idOf('crmId:C-DUP-NEW')).toBe(id);
    const p = await profile(id);
    expect(p.body.attributes['loyalty']).toEqual({ tier: 'gold' });
    expect(p.body.attributes['person']).toEqual({ name: { firstName: 'Peggy', lastName: 'Hill' } });
    const ring = await ctx.ts.api('GET', `/api/instances/default/profiles/${id}/fragments`);
    expect((ring.body['fragments'] as unknown as Doc[]).map((f) => f['recordKey']).sort()).toEqual(['crmId:C-DUP-NEW', 'crmId:C-DUP-OLD']);
    // Least recent instead: the older record's values; a tie would go to the larger key.
    const leastRecent = { ...CONFIG, datasets: [{ ...CONFIG.datasets[0]!, winner: 'leastRecent' }, CONFIG.datasets[1]!] };
    expect((await ctx.ts.api('PUT', `${base}/unification`, { body: leastRecent })).status).toBe(200);
    expect((await refresh()).status).toBe('success');
    expect((await profile(id)).body.attributes['loyalty']).toEqual({ tier: 'bronze' });
    expect((await ctx.ts.api('PUT', `${base}/unification`, { body: CONFIG })).status).toBe(200);
    expect((await refresh()).status).toBe('success');
    expect((await profile(id)).body.attributes['loyalty']).toEqual({ tier: 'gold' });
  });

  it('keeps an unexpired override on top after a run, and does not bring an expired one back', async () => {
    clock.set(T0);
    await send(person(ctx.ds.crm, 'C-OV', 'Olive', 'Vance', '4 Bay Road', { loyalty: { tier: 'silver' } }));
    const id = await idOf('crmId:C-OV');
    const patch = (body: unknown, until: number) => ctx.ts.api('PATCH', `/api/instances/default/data/Customer/${id}?validUntil=${new Date(until).toISOString()}`, { body });
    expect((await patch({ loyalty: { tier: 'platinum' } }, T0 + 2 * HOUR)).status).toBe(204);
    await refresh();
    expect((await profile(id)).body.attributes['loyalty']).toEqual({ tier: 'platinum' });
    clock.set(T0 + 2 * HOUR);
    await refresh();
    expect((await profile(id)).body.attributes['loyalty']).toEqual({ tier: 'silver' });
    clock.set(T0);
  });

  it('a run that finds the configuration no longer fits fails, says why, and leaves the published profiles as they were', async () => {
    const ids = await allIds();
    const docs = await Promise.all(ids.map(async (id) => (await profile(id)).body));
    await send(person(ctx.ds.web, 'W-DEB-2', 'Deborah', 'Smith', '12 High St.'));
    const idsWithNew = await allIds();
    expect((await ctx.ts.api('PATCH', `${base}/datasets/web`, { body: { enabledForProfile: false } })).status).toBe(200);
    const run = await refresh();
    expect(run.status).toBe('failed');
    expect(run.message).toContain('dataset web is not enabled for profile');
    expect(run.message).toContain('the published profiles are unchanged');
    expect(await allIds()).toEqual(idsWithNew);
    for (const [i, id] of ids.entries()) expect((await profile(id)).body).toEqual(docs[i]);
    expect((await ctx.ts.api('PATCH', `${base}/datasets/web`, { body: { enabledForProfile: true } })).status).toBe(200);
    expect((await refresh()).status).toBe('success');
  });

  it('readers during a run see the old result or the new one, never a mix', async () => {
    const messages = [];
    for (let i = 0; i < 300; i++) messages.push(person(ctx.ds.crm, `C-MASS-${i}`, `Name${i}`, 'Massey', `${i} Long Road`), person(ctx.ds.web, `W-MASS-${i}`, `name${i}`, 'massey', `${i} long rd`));
    for (let i = 0; i < messages.length; i += 200) await send(...messages.slice(i, i + 200));
    const crm0 = await idOf('crmId:C-MASS-0');
    const web0 = await idOf('crmId:W-MASS-0');
    const crm299 = await idOf('crmId:C-MASS-299');
    expect(crm0).not.toBe(web0);
    const { body: started } = await ctx.ts.api('POST', `${base}/refresh`);
    const seen = new Set<string>();
    for (;;) {
      // One pair before the other: both old (two profiles) or both new (one), never one of each.
      const [a, b, c] = await Promise.all([profileByIdentity(ctx.ts.api, 'crmId:W-MASS-0'), profileByIdentity(ctx.ts.api, 'crmId:C-MASS-0'), profileByIdentity(ctx.ts.api, 'crmId:C-MASS-299')]);
      const state = `${String(a.body.customerId) === String(b.body.customerId)}`;
      seen.add(state);
      if (String(c.body.customerId) === crm299 && String(a.body.customerId) === String(b.body.customerId)) {
        expect(a.body.identities).toHaveLength(2);
      }
      const run = await ctx.ts.api('GET', `${base}/refresh/runs/${String(started.id)}`);
      expect(run.status).toBe(200);
      if (String(run.body.status) !== 'running') {
        expect(run.body.status).toBe('success');
        break;
      }
    }
    expect(await idOf('crmId:W-MASS-0')).toBe(await idOf('crmId:C-MASS-0'));
    const runs = await ctx.ts.api('GET', `${base}/refresh/runs`);
    const listed = (runs.body['runs'] as unknown as Doc[]).find((r) => String(r['id']) === String(started.id));
    expect(listed!['counts']!['pairsCompared']).toBeGreaterThanOrEqual(300);
  });

  it('one run at a time per instance: a second start while one runs is refused with 409', async () => {
    // Whichever of the two the server takes first runs; the other is refused.
    const answers = await Promise.all([ctx.ts.api('POST', `${base}/refresh`), ctx.ts.api('POST', `${base}/refresh`)]);
    expect(answers.map((a) => a.status).sort()).toEqual([202, 409]);
    const started = answers.find((a) => a.status === 202)!;
    const refused = answers.find((a) => a.status === 409)!;
    expect(refused.body.code).toBe('refresh_running');
    expect(refused.body.details).toEqual({ runId: started.body.id });
    for (;;) {
      const run = await ctx.ts.api('GET', `${base}/refresh/runs/${String(started.body.id)}`);
      expect(run.status).toBe(200);
      if (String(run.body.status) !== 'running') break;
      await new Promise((r) => setTimeout(r, 20));
    }
  });

  it('keeps never-match records apart and joins always-match records, whatever the rules say', async () => {
    const put = await ctx.ts.api('PUT', `${base}/unification`, {
      body: { ...CONFIG, neverMatch: [['crm/crmId:C-DEB', 'web/crmId:W-DEB']], alwaysMatch: [['crm/crmId:C-ANN', 'crm/crmId:C-OV']] },
    });
    expect(put.status).toBe(200);
    const deb = await idOf('crmId:C-DEB');
    const run = await refresh();
    expect(run.status).toBe('success');
    expect(await idOf('crmId:C-DEB')).toBe(deb);
    expect(await idOf('crmId:W-DEB')).not.toBe(deb);
    expect(await idOf('crmId:C-ANN')).toBe(await idOf('crmId:C-OV'));
    expect((await ctx.ts.api('PUT', `${base}/unification`, { body: CONFIG })).status).toBe(200);
  });

  it('fires the cron schedule at the configured time by the clock', async () => {
    clock.set(Date.UTC(2026, 6, 1, 2, 59, 59));
    const put = await ctx.ts.api('PUT', `${base}/unification`, { body: { ...CONFIG, schedule: { cron: '0 3 * * *', timezone: 'UTC' } } });
    expect(put.status).toBe(200);
    expect(put.body.nextRunAt).toBe('2026-07-01T03:00:00.000Z');
    const countScheduled = async (): Promise<number> => {
      const runs = await ctx.ts.api('GET', `${base}/refresh/runs?limit=1000`);
      return (runs.body['runs'] as unknown as Doc[]).filter((r) => String(r['trigger']) === 'schedule').length;
    };
    await ctx.ts.server.tessera.refresh.tick();
    expect(await countScheduled()).toBe(0);
    clock.set(Date.UTC(2026, 6, 1, 3, 0, 0));
    await ctx.ts.server.tessera.refresh.tick();
    expect(await countScheduled()).toBe(1);
    expect((await ctx.ts.api('GET', `${base}/unification`)).body.nextRunAt).toBe('2026-07-02T03:00:00.000Z');
    await ctx.ts.server.tessera.refresh.idle();
  });

  it('reports runs to Prometheus: counts by status and trigger equal to the run history, and stage times', async () => {
    const runs = (await ctx.ts.api('GET', `${base}/refresh/runs?limit=1000`)).body['runs'] as unknown as Array<{ status: string; trigger: string }>;
    const text = await (await fetch(`${ctx.ts.url}/metrics`)).text();
    for (const [status, trigger] of [['success', 'manual'], ['failed', 'manual'], ['success', 'schedule']]) {
      const expected = runs.filter((r) => r.status === status && r.trigger === trigger).length;
      expect(expected).toBeGreaterThan(0);
      expect(text).toContain(`tessera_refresh_runs_total{status="${status}",trigger="${trigger}"} ${expected}`);
    }
    expect(text).toMatch(/tessera_refresh_stage_seconds_count\{stage="publish"\} \d+/);
    expect(text).toContain('tessera_refresh_running 0');
  });

  it('rebuild from the lake makes the same people again (the refresh runs after the replay)', async () => {
    const partition = async (): Promise<string[]> => {
      const groups: string[] = [];
      for (const id of await allIds()) {
        const f = await ctx.ts.api('GET', `/api/instances/default/profiles/${id}/fragments`);
        groups.push((f.body['fragments'] as unknown as Array<{ recordKey: string }>).map((x) => x.recordKey).sort().join(' '));
      }
      return groups.sort();
    };
    const before = await partition();
    expect(before.some((g) => g.includes('crmId:C-DEB crmId:W-DEB'))).toBe(true);
    // Scale-out: the lake writer writes what the API node applied itself (batches) after the fact; the rebuild reads the lake once it has (as `tessera rebuild` sees to).
    await ctx.ts.settled();
    await ctx.ts.server.tessera.rebuild('default');
    expect(await partition()).toEqual(before);
  });
});
