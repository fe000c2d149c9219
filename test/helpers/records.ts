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
