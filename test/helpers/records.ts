import type { FailedRecord } from '../../src/ports/profile-store.js';
import type { PreparedRecord, Receipt } from '../../src/pipelines/records.js';

/** A receipt of one request (streaming unless said). */
export const receipt = (requestId: string, caller: string | null, path: Receipt['path'] = 'streaming'): Receipt => ({ requestId, receivedAt: 1_700_000_000_000, path, caller });

/** A prepared profile record, with the fields given replaced. */
export const record = (over: Partial<PreparedRecord>): PreparedRecord => ({
  kind: 'profile',
  instanceId: 'default',
  datasetId: 'crm',
  recordId: 'r-1',
  rawJson: '{"a":1}',
  recordJson: '{"a":1}',
  identities: [],
  recordKey: 'k-1',
  timestamp: 1_700_000_000_001,
  activityType: null,
  validUntil: null,
  receipt: receipt('q-1', null),
  ...over,
});

/**
 * One record of every kind, with the optional fields and receipts the wires must keep: identities,
 * a record as received pretty-printed (line ends between tokens, accents, escapes) whose API form
 * differs (the xdm: prefix taken off), an activity, a real-time override, and a deletion with no text.
 */
export const everyKindOfRecord = (shared: Receipt): PreparedRecord[] => [
  record({ identities: [{ namespace: 'email', value: 'a@x.com', primary: true }, { namespace: 'crmId', value: 'C1', primary: false }] }),
  record({ recordId: 'r-2', rawJson: '{\n  "xdm:a": "Zoë — \\"quoted\\"\\nand escaped"\n}', recordJson: '{"a":"Zoë — \\"quoted\\"\\nand escaped"}', receipt: shared }),
  record({ kind: 'activity', recordId: 'r-3', activityType: 'purchase', validUntil: 1_700_000_900_000, receipt: shared }),
  record({ kind: 'override', recordId: 'r-4', target: 'cust-9', validUntil: 1_700_000_500_000, receipt: { ...shared } }),
  record({ kind: 'delete', recordId: 'r-5', rawJson: '', recordJson: '', timestamp: -5 }),
];

/** A record that failed validation, its record with a line end. */
export const failedRecord: FailedRecord = { id: 'f-1', datasetId: 'crm', requestId: 'q-1', receivedAt: 1, record: { bad: 'line\nbreak' }, errors: [{ path: '/a', keyword: 'type', message: 'must be integer' }] };
