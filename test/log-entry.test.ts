import { describe, expect, it } from 'vitest';
import { decodeLogEntry, toLogEntries } from '../src/pipelines/log/log-entry.js';
import type { CommitWork } from '../src/pipelines/records.js';
import { everyKindOfRecord, failedRecord, receipt, record } from './helpers/records.js';

/** A message crosses NATS as UTF-8 and is read back as a string: the same here. */
const across = (payload: string): string => new TextDecoder().decode(new TextEncoder().encode(payload));

describe('a log message', () => {
  it('carries an entry as it was: every kind of record, texts with line ends and accents, the API form where it differs, receipts, failed records, the catalog version', () => {
    const shared = receipt('q-2', 'crm-sync', 'batch');
    // And a profile record keyed by its first identity, as profile records are (the head leaves such a key out).
    const keyedByIdentity = record({ recordId: 'r-6', identities: [{ namespace: 'email', value: 'b@x.com', primary: true }], recordKey: 'email:b@x.com', receipt: shared });
    const work: CommitWork = {
      instanceId: 'default',
      records: [...everyKindOfRecord(shared), keyedByIdentity],
      failed: [failedRecord],
      catalogVersion: 7,
    };
    const [message, ...more] = toLogEntries([work], 1, false);
    expect(more).toEqual([]);
    expect(message!.records).toBe(7);
    expect(message!.payload.startsWith('\u0002')).toBe(true);
    // Repeated strings once, each record as an array.
    expect(message!.payload.split('\n')[0]).toContain('"strings":["profile","default","crm","email","crmId","activity","purchase","override","delete"]');
    expect(message!.payload.split('\n')[0]).toContain('[0,1,2,"r-6",[[3,"b@x.com",1]],null,');
    // The texts travel as they are, not escaped into JSON.
    expect(message!.payload).toContain('"xdm:a": "Zoë — \\"quoted\\"\\nand escaped"\n}');
    expect(decodeLogEntry(across(message!.payload))).toStrictEqual({ instanceId: 'default', records: work.records, failed: [failedRecord], catalogVersion: 7 });
  });

  it('marks what the API node applied itself, and goes as one JSON object where a text has characters outside the BMP', () => {
    const work: CommitWork = { instanceId: 'default', records: [record({ rawJson: '{"a":"🙂"}', recordJson: '{"a":"🙂"}' }), record({ recordId: 'r-2' })], failed: [] };
    const [message] = toLogEntries([work], 1, true);
    expect(message!.payload.startsWith('{')).toBe(true);
    expect(decodeLogEntry(across(message!.payload))).toStrictEqual({ instanceId: 'default', records: work.records, failed: [], lakeOnly: true });
  });

  it('reads a message of the older form (one JSON object, the API form left out where it is the record as received)', () => {
    const { recordJson: _, ...withoutApiForm } = record({ rawJson: '{"b":2}', recordJson: '{"b":2}' });
    const older = JSON.stringify({ instanceId: 'default', records: [withoutApiForm, record({ recordId: 'r-2', rawJson: '{"xdm:b":3}', recordJson: '{"b":3}' })], failed: [] });
    expect(decodeLogEntry(older)).toStrictEqual({
      instanceId: 'default',
      records: [record({ rawJson: '{"b":2}', recordJson: '{"b":2}' }), record({ recordId: 'r-2', rawJson: '{"xdm:b":3}', recordJson: '{"b":3}' })],
      failed: [],
    });
  });

  it('reads a message of the first head-and-texts form (a head of objects)', () => {
    const r1 = record({ identities: [{ namespace: 'email', value: 'a@x.com', primary: true }], recordKey: 'email:a@x.com' });
    const r2 = record({ kind: 'activity', recordId: 'r-2', rawJson: '{"xdm:b":3}', recordJson: '{"b":3}', activityType: 'view', validUntil: 5, target: 'cust-1' });
    const headOf = (r: typeof r1, m?: number) => {
      const { rawJson: _raw, recordJson: _api, receipt: _receipt, ...rest } = r;
      return { ...rest, n: r.rawJson.length, ...(m === undefined ? {} : { m }), r: 0 };
    };
    const first = `\u0001${JSON.stringify({ instanceId: 'default', failed: [], receipts: [r1.receipt], records: [headOf(r1), headOf(r2, r2.recordJson.length)], catalogVersion: 3 })}\n${r1.rawJson}${r2.rawJson}${r2.recordJson}`;
    expect(decodeLogEntry(first)).toStrictEqual({ instanceId: 'default', records: [r1, r2], failed: [], catalogVersion: 3 });
  });

  it('refuses a message whose texts do not add up to what its head says', () => {
    const [message] = toLogEntries([{ instanceId: 'default', records: [record({ rawJson: '{"a":12345}', recordJson: '{"a":12345}' })], failed: [] }], 1, false);
    expect(() => decodeLogEntry(`${message!.payload}extra`)).toThrow(/5 characters longer than its head says/);
  });
});
