import { describe, expect, it } from 'vitest';
import { ingestBatch, profileByIdentity, usePeopleServer } from './helpers/fixtures.js';

const ctx = usePeopleServer();

const plain = (datasetId: string, record: unknown) => ({ datasetId, record });

describe('identity graph', () => {
  it('links every identity a record carries, normalized per namespace', async () => {
    const res = await ingestBatch(ctx.ts.api, [
      plain(ctx.ds.crm, { crmId: ' C-1 ', personalEmail: { address: '  Ann@Example.COM ' }, mobilePhone: { number: '(415) 555-0101' }, person: { name: { firstName: 'Ann' } } }),
    ]);
    expect(res.status).toBe(207);
    expect(res.body.results[0]!.status).toBe(200);
    const byEmail = await profileByIdentity(ctx.ts.api, 'email:ann@example.com');
    const byPhone = await profileByIdentity(ctx.ts.api, 'phone:+14155550101');
    const byCrm = await profileByIdentity(ctx.ts.api, 'crmId:C-1');
    expect(byEmail.status).toBe(200);
    expect(byPhone.body.customerId).toBe(byEmail.body.customerId);
    expect(byCrm.body.customerId).toBe(byEmail.body.customerId);
    const ids = (byEmail.body.identities as unknown as Array<{ namespace: string; value: string }>).map((i) => `${i.namespace}:${i.value}`);
    expect(ids.sort()).toEqual(['crmId:C-1', 'email:ann@example.com', 'phone:+14155550101']);
    // Lookups normalize too.
    expect((await profileByIdentity(ctx.ts.api, 'email:ANN@example.com ')).body.customerId).toBe(byEmail.body.customerId);
  });

  it('merges two profiles when a record carries an identity of each, and the old id keeps resolving', async () => {
    await ingestBatch(ctx.ts.api, [
      plain(ctx.ds.web, { personalEmail: { address: 'bob@example.com' }, person: { name: { firstName: 'Bob' } }, timestamp: '2026-01-01T00:00:00Z' }),
      plain(ctx.ds.web, { mobilePhone: { number: '+1 415 555 0199' }, loyalty: { points: 10 }, timestamp: '2026-01-02T00:00:00Z' }),
    ]);
    const a = await profileByIdentity(ctx.ts.api, 'email:bob@example.com');
    const b = await profileByIdentity(ctx.ts.api, 'phone:+14155550199');
    expect(a.body.customerId).not.toBe(b.body.customerId);
    const older = [String(a.body.customerId), String(b.body.customerId)].sort()[0]!;
    const younger = [String(a.body.customerId), String(b.body.customerId)].sort()[1]!;

    await ingestBatch(ctx.ts.api, [plain(ctx.ds.crm, { crmId: 'C-2', personalEmail: { address: 'bob@example.com' }, mobilePhone: { number: '+14155550199' } })]);
    const merged = await profileByIdentity(ctx.ts.api, 'phone:+14155550199');
    expect(merged.body.customerId).toBe(older);
    expect(merged.body.previousCustomerIds).toEqual([younger]);
    expect(merged.body.attributes).toMatchObject({ person: { name: { firstName: 'Bob' } }, loyalty: { points: 10 } });

    const old = await ctx.ts.api('GET', `/api/instances/default/profiles/${younger}`);
    expect(old.status).toBe(200);
    expect(old.body.customerId).toBe(older);
    expect(old.body.resolvedFrom).toBe(younger);

    const history = await ctx.ts.api('GET', `/api/instances/default/profiles/${older}/merges`);
    expect(history.body.merges).toHaveLength(1);
    expect(history.body.merges[0]).toMatchObject({ survivorId: older, absorbedId: younger, datasetId: ctx.ds.crm, recordKey: 'crmId:C-2' });
    const fragments = await ctx.ts.api('GET', `/api/instances/default/profiles/${younger}/fragments`);
    expect(fragments.body.fragments).toHaveLength(3);
  });

  it('refuses a merge that would give one profile two values of a unique namespace, and reports it', async () => {
    await ingestBatch(ctx.ts.api, [
      plain(ctx.ds.crm, { crmId: 'U-1', personalEmail: { address: 'u1@example.com' } }),
      plain(ctx.ds.crm, { crmId: 'U-2', personalEmail: { address: 'u2@example.com' } }),
    ]);
    const before1 = await profileByIdentity(ctx.ts.api, 'crmId:U-1');
    const before2 = await profileByIdentity(ctx.ts.api, 'crmId:U-2');
    await ingestBatch(ctx.ts.api, [plain(ctx.ds.web, { personalEmail: { address: 'u1@example.com' }, mobilePhone: { number: '+14155550142' }, identityMap: { email: [{ id: 'u2@example.com' }] } })]);
    const after1 = await profileByIdentity(ctx.ts.api, 'crmId:U-1');
    const after2 = await profileByIdentity(ctx.ts.api, 'crmId:U-2');
    expect(after1.body.customerId).toBe(before1.body.customerId);
    expect(after2.body.customerId).toBe(before2.body.customerId);
    expect(after1.body.customerId).not.toBe(after2.body.customerId);
    // The new phone joined the profile of the record's first identity.
    expect((await profileByIdentity(ctx.ts.api, 'phone:+14155550142')).body.customerId).toBe(after1.body.customerId);

    const warnings = await ctx.ts.api('GET', '/api/instances/default/manage/identity-warnings');
    const w = (warnings.body.warnings as unknown as Array<{ kind: string; namespace: string; values: string[]; customerIds: string[] }>).find((x) => x.values.includes('U-2'));
    expect(w).toBeDefined();
    expect(w!.kind).toBe('unique_namespace_conflict');
    expect(w!.namespace).toBe('crmId');
    expect(w!.values.sort()).toEqual(['U-1', 'U-2']);
    expect(w!.customerIds.sort()).toEqual([String(before1.body.customerId), String(before2.body.customerId)].sort());

    // A record whose own (primary) crmId differs from the profile its email points to is a person of
    // its own: it gets its own profile, the email stays where it was, and the conflict is reported.
    await ingestBatch(ctx.ts.api, [plain(ctx.ds.web, { crmId: 'U-3', personalEmail: { address: 'u1@example.com' }, loyalty: { tier: 'u3' } })]);
    const u3 = await profileByIdentity(ctx.ts.api, 'crmId:U-3');
    expect(u3.status).toBe(200);
    expect(u3.body.customerId).not.toBe(after1.body.customerId);
    expect(u3.body.attributes).toEqual({ crmId: 'U-3', personalEmail: { address: 'u1@example.com' }, loyalty: { tier: 'u3' } });
    expect((await profileByIdentity(ctx.ts.api, 'email:u1@example.com')).body.customerId).toBe(after1.body.customerId);
    const all = await ctx.ts.api('GET', '/api/instances/default/manage/identity-warnings');
    expect((all.body.warnings as unknown as Array<{ values: string[] }>).some((x) => x.values.includes('U-3') && x.values.includes('U-1'))).toBe(true);
  });

  it('never links on blocked values', async () => {
    const res = await ingestBatch(ctx.ts.api, [
      plain(ctx.ds.web, { personalEmail: { address: 'null' }, mobilePhone: { number: '+14155550111' } }),
      plain(ctx.ds.web, { personalEmail: { address: 'NULL' }, mobilePhone: { number: '+14155550112' } }),
      plain(ctx.ds.web, { crmId: 'anonymous', personalEmail: { address: 'blocked1@example.com' } }),
      plain(ctx.ds.web, { crmId: 'anonymous', personalEmail: { address: 'blocked2@example.com' } }),
      plain(ctx.ds.web, { crmId: '-1', personalEmail: { address: 'undefined' } }),
    ]);
    expect(res.status).toBe(207);
    const p1 = await profileByIdentity(ctx.ts.api, 'phone:+14155550111');
    const p2 = await profileByIdentity(ctx.ts.api, 'phone:+14155550112');
    expect(p1.body.customerId).not.toBe(p2.body.customerId);
    expect((await profileByIdentity(ctx.ts.api, 'email:null')).status).toBe(404);
    const b1 = await profileByIdentity(ctx.ts.api, 'email:blocked1@example.com');
    const b2 = await profileByIdentity(ctx.ts.api, 'email:blocked2@example.com');
    expect(b1.body.customerId).not.toBe(b2.body.customerId);
    expect((await profileByIdentity(ctx.ts.api, 'crmId:anonymous')).status).toBe(404);
    // A record left with no usable identity is not dropped: it is in the failed records.
    const failed = await ctx.ts.api('GET', `/api/instances/default/manage/datasets/${ctx.ds.web}/failed`);
    const codes = (failed.body.failed as unknown as Array<{ errors: Array<{ keyword: string }> }>).map((f) => f.errors[0]!.keyword);
    expect(codes).toContain('no_identity');
  });

  it('keeps at most maxIdentitiesPerGraph identities, dropping the least important oldest first', async () => {
    await ctx.ts.api('PATCH', '/api/instances/default/manage/settings', { body: { maxIdentitiesPerGraph: 5 } });
    try {
      await ingestBatch(ctx.ts.api, [plain(ctx.ds.crm, { crmId: 'G-1', personalEmail: { address: 'g@example.com' } })]);
      for (let i = 0; i < 6; i++) {
        await ingestBatch(ctx.ts.api, [plain(ctx.ds.web, { personalEmail: { address: 'g@example.com' }, identityMap: { cookie: [{ id: `ck-${i}` }] } })]);
      }
      const p = await profileByIdentity(ctx.ts.api, 'crmId:G-1');
      const ids = (p.body.identities as unknown as Array<{ namespace: string; value: string }>).map((i) => `${i.namespace}:${i.value}`).sort();
      expect(ids).toEqual(['cookie:ck-3', 'cookie:ck-4', 'cookie:ck-5', 'crmId:G-1', 'email:g@example.com']);
      const warnings = await ctx.ts.api('GET', '/api/instances/default/manage/identity-warnings');
      expect((warnings.body.warnings as unknown as Array<{ kind: string }>).some((w) => w.kind === 'graph_limit')).toBe(true);
    } finally {
      await ctx.ts.api('PATCH', '/api/instances/default/manage/settings', { body: { maxIdentitiesPerGraph: 50 } });
    }
  });

  it('applies one person\'s records in arrival order within a batch', async () => {
    const messages = [];
    for (let i = 0; i < 200; i++) messages.push(plain(ctx.ds.crm, { crmId: 'O-1', loyalty: { points: i } }));
    await ingestBatch(ctx.ts.api, messages);
    const p = await profileByIdentity(ctx.ts.api, 'crmId:O-1');
    expect(p.body.attributes).toEqual({ crmId: 'O-1', loyalty: { points: 199 } });
  });
});
