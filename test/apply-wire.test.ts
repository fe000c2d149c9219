import { deserialize, serialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { outcomesFromWire, outcomesToWire, packWorks, worksFromWire, worksToWire } from '../src/pipelines/apply/apply-wire.js';
import type { ApplyOutcome, CommitWork } from '../src/pipelines/records.js';
import { everyKindOfRecord, failedRecord, receipt, record } from './helpers/records.js';

/** What crosses to the writer thread is a structured clone of the packed form: the same here. */
const across = <T>(value: T): T => deserialize(serialize(value)) as T;

describe('the groups and outcomes sent to the writer thread', () => {
  it('arrive as they were sent: every kind of record, optional fields, receipts and the works around them', () => {
    const shared = receipt('q-2', 'crm-sync', 'batch');
    const works: CommitWork[] = [
      {
        instanceId: 'default',
        records: everyKindOfRecord(shared),
        failed: [failedRecord],
        catalogVersion: 7,
      },
      { instanceId: 'other', records: [], failed: [] },
      {
        instanceId: 'other',
        records: [record({ instanceId: 'other', datasetId: 'web', activityType: 'view', kind: 'activity', receipt: receipt('q-3', 'ü-caller') })],
        failed: [],
        lakePositions: [{ segment: 'other/web/date=2026-11-28/part-1.ndjson', end: 120 }],
        logPosition: { consumer: 'partition-3', seq: 42 },
      },
    ];
    // As they are (few records a work), and as columns (the same works with many records each).
    const small = worksToWire(works);
    expect('plain' in small).toBe(true);
    expect(worksFromWire(across(small))).toStrictEqual(works);
    const large = works.map((w) => ({ ...w, records: Array.from({ length: 12 }, (_, i) => w.records.map((r) => ({ ...r, recordId: `${r.recordId}.${i}` }))).flat() }));
    const packed = worksToWire(large);
    expect('packed' in packed).toBe(true);
    expect(worksFromWire(across(packed))).toStrictEqual(large);
  });

  it('keep a receipt shared by the records of one request, and do not mix up receipts that differ', () => {
    const a = receipt('q-1', null);
    const works: CommitWork[] = [{ instanceId: 'default', records: [record({ receipt: a }), record({ recordId: 'r-2', receipt: a }), record({ recordId: 'r-3', receipt: receipt('q-1', '') })], failed: [] }];
    const packed = packWorks(works);
    expect(packed.receipts).toHaveLength(2);
    const [back] = worksFromWire(across({ packed }));
    expect(back!.records.map((r) => r.receipt.caller)).toEqual([null, null, '']);
  });

  it('bring the outcomes back as the writer gave them', () => {
    const outcomes: ApplyOutcome[][] = [
      [
        { status: 'applied', customerId: 'c-1', merged: [] },
        { status: 'applied', customerId: 'c-1', merged: ['c-2', 'c-3'], warnings: 1 },
        { status: 'failed', customerId: null, merged: [] },
      ],
      [],
      [
        { status: 'skipped', customerId: null, merged: [] },
        { status: 'not_found', customerId: null, merged: [], warnings: 0 },
      ],
    ];
    expect('plain' in outcomesToWire(outcomes)).toBe(true);
    expect(outcomesFromWire(across(outcomesToWire(outcomes)))).toStrictEqual(outcomes);
    const many = outcomes.map((list) => Array.from({ length: 20 }, () => list).flat());
    expect('packed' in outcomesToWire(many)).toBe(true);
    expect(outcomesFromWire(across(outcomesToWire(many)))).toStrictEqual(many);
  });
});
