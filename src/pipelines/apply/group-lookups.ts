import type { GroupLookups } from '../../ports/profile-store.js';
import type { PreparedRecord } from '../records.js';

/** What applying these records will look up, per instance: each record's identities, the fragment keys and activity ids. */
export function groupLookups(records: Iterable<PreparedRecord>): GroupLookups[] {
  const byInstance = new Map<string, GroupLookups>();
  for (const r of records) {
    if (r.kind === 'delete' || r.kind === 'override' || r.target !== undefined) continue;
    let l = byInstance.get(r.instanceId);
    if (!l) byInstance.set(r.instanceId, (l = { instanceId: r.instanceId, records: [], fragments: [], activityIds: [] }));
    l.records.push(r.identities);
    if (r.kind === 'activity') l.activityIds.push(r.recordKey);
    else l.fragments.push({ datasetId: r.datasetId, recordKey: r.recordKey });
  }
  return [...byInstance.values()];
}
