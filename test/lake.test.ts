import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../src/domain/clock.js';
import { ingestBatch, profileByIdentity, usePeopleServer } from './helpers/fixtures.js';

const DAY = 86_400_000;
const clock = new ManualClock(Date.UTC(2026, 2, 1, 12));
const ctx = usePeopleServer(clock);

const partitions = (datasetId: string): string[] => {
  const dir = join(ctx.ts.dataDir, 'lake', 'default', datasetId);
  return existsSync(dir) ? readdirSync(dir).sort() : [];
};

describe('the lake', () => {
  it('keeps each record as received with its receipt, in date partitions', async () => {
    await ingestBatch(ctx.ts.api, [{ datasetId: ctx.ds.crm, record: { crmId: 'LK-1' } }]);
    expect(partitions(ctx.ds.crm)).toEqual(['date=2026-03-01']);
  });

  it('writes each line with its own request\'s receipt, whole, multi-byte text included', async () => {
    const names = ['Zoë', 'Łukasz 😀', 'plain', '東京'];
    const answers = await Promise.all(
      names.map((name, i) =>
        ingestBatch(ctx.ts.api, [0, 1, 2].map((j) => ({ datasetId: ctx.ds.web, record: { crmId: `MB-${i}-${j}`, person: { name: { firstName: `${name} ${j}` } } } }))),
      ),
    );
    const requestOf = new Map<string, string>(answers.flatMap((a, i) => [0, 1, 2].map((j) => [`MB-${i}-${j}`, String(a.body.requestId)] as const)));
    const dir = join(ctx.ts.dataDir, 'lake', 'default', ctx.ds.web, 'date=2026-03-01');
    const text = readdirSync(dir)
      .filter((f) => f.endsWith('.ndjson'))
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('');
    expect(text.endsWith('\n')).toBe(true);
    const lines = text
      .slice(0, -1)
      .split('\n')
      .map((l) => JSON.parse(l) as { requestId: string; path: string; record: { crmId: string; person: { name: { firstName: string } } } })
      .filter((l) => l.record.crmId.startsWith('MB-'));
    expect(lines).toHaveLength(12);
    for (const l of lines) {
      const [, i, j] = l.record.crmId.split('-');
      expect(l.requestId).toBe(requestOf.get(l.record.crmId));
      expect(l.path).toBe('streaming');
      expect(l.record.person.name.firstName).toBe(`${names[Number(i)]} ${j}`);
    }
  });

  it('deletes a dataset\'s partitions older than its retention, and keeps the profiles', async () => {
    const res = await ctx.ts.api('PATCH', `/api/instances/default/manage/datasets/${ctx.ds.web}`, { body: { retentionDays: 2 } });
    expect(res.status).toBe(200);
    expect(res.body.retentionDays).toBe(2);
    await ingestBatch(ctx.ts.api, [{ datasetId: ctx.ds.web, record: { crmId: 'LK-1', loyalty: { tier: 'old' } } }]);
    clock.advance(DAY);
    await ingestBatch(ctx.ts.api, [{ datasetId: ctx.ds.web, record: { crmId: 'LK-2' } }]);
    clock.advance(3 * DAY); // 2026-03-05: the cutoff is 2026-03-03
    await ingestBatch(ctx.ts.api, [{ datasetId: ctx.ds.web, record: { crmId: 'LK-3' } }]);
    expect(partitions(ctx.ds.web)).toEqual(['date=2026-03-01', 'date=2026-03-02', 'date=2026-03-05']);
    await ctx.ts.compactLake();
    expect(partitions(ctx.ds.web)).toEqual(['date=2026-03-05']);
    expect(partitions(ctx.ds.crm)).toEqual(['date=2026-03-01']); // no retention there
    // Past days' segments were closed and compacted to Parquet.
    expect(readdirSync(join(ctx.ts.dataDir, 'lake', 'default', ctx.ds.crm, 'date=2026-03-01')).every((f) => f.endsWith('.parquet'))).toBe(true);
    expect((await profileByIdentity(ctx.ts.api, 'crmId:LK-1')).body.attributes['loyalty']).toEqual({ tier: 'old' });
    expect((await profileByIdentity(ctx.ts.api, 'crmId:LK-2')).status).toBe(200);
  });
});
