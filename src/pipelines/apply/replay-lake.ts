import type { Lake, LakeEntry, LakePosition } from '../../ports/lake.js';
import type { ProfileReader } from '../../ports/profile-store.js';
import type { Committer } from './committer.js';
import type { Catalog } from '../ingest/catalog.js';
import { prepareRecord } from '../ingest/prepare-record.js';
import { deleteRecord, type PreparedRecord } from '../records.js';
import type { InstanceCatalog } from '../ingest/catalog.js';
import { isObject } from '../../domain/json-path.js';
import { overrideLeaves, overrideRecord, UNIFIED_ACTIVITY, unifiedActivityRecord } from '../ingest/prepare-realtime.js';

const CHUNK = 2000;

interface Item {
  entry: LakeEntry;
  end: number;
  segment: string;
}

/**
 * Every segment's entries past its watermark, merged into the order they were first committed
 * (the writer stamps each line with an increasing `seq`), so that a replay makes the same
 * profiles, ids and merges as the live run did.
 */
async function* inCommitOrder(lake: Lake, watermarks: ReadonlyMap<string, number>): AsyncGenerator<Item> {
  const cursors: Array<{ it: AsyncIterator<{ entry: LakeEntry; end: number }>; head: Item | undefined; segment: string }> = [];
  for (const { segment, size } of await lake.segments()) {
    const from = watermarks.get(segment) ?? 0;
    if (from >= size) continue;
    const it = lake.read(segment, from)[Symbol.asyncIterator]();
    const first = await it.next();
    cursors.push({ it, segment, head: first.done ? undefined : { ...first.value, segment } });
  }
  for (;;) {
    let best: (typeof cursors)[number] | undefined;
    for (const c of cursors) if (c.head && (!best || (c.head.entry.seq ?? 0) < (best.head!.entry.seq ?? 0))) best = c;
    if (!best) return;
    yield best.head!;
    const next = await best.it.next();
    best.head = next.done ? undefined : { ...next.value, segment: best.segment };
  }
}

/**
 * Re-applies lake entries past each segment's applied watermark, in commit order: what was
 * acknowledged (durable in the lake) but not yet applied when the process stopped, or everything
 * after a reset (rebuild). Apply is idempotent, so this is safe.
 */
export async function replayLakeTail(deps: { lake: Lake; reader: ProfileReader; committer: Committer; catalog: Catalog }): Promise<number> {
  const watermarks = await deps.reader.lakeWatermarks();
  let replayed = 0;
  let chunk: Item[] = [];
  for await (const item of inCommitOrder(deps.lake, watermarks)) {
    chunk.push(item);
    if (chunk.length >= CHUNK) {
      replayed += await replayEntries(deps, chunk);
      chunk = [];
    }
  }
  if (chunk.length > 0) replayed += await replayEntries(deps, chunk);
  return replayed;
}

/** The record a lake entry holds, prepared again as at its receipt; null if it no longer fits. */
function recordOf(catalog: InstanceCatalog, entry: LakeEntry): PreparedRecord | null {
  const receipt = { requestId: entry.requestId, receivedAt: entry.receivedAt, path: entry.path, caller: entry.caller };
  if (entry.operation === 'patch' && entry.target !== undefined && isObject(entry.record)) {
    return overrideRecord({ instanceId: entry.instanceId, recordId: entry.recordId, customerId: entry.target, body: entry.record, leaves: overrideLeaves(catalog, entry.record), validUntil: entry.validUntil ?? entry.receivedAt, receipt });
  }
  if (entry.operation === 'delete' && isObject(entry.record) && typeof entry.record['recordKey'] === 'string') {
    return deleteRecord({ instanceId: entry.instanceId, datasetId: entry.datasetId, recordId: entry.recordId, recordKey: entry.record['recordKey'], receipt });
  }
  if (entry.datasetId === UNIFIED_ACTIVITY) {
    return isObject(entry.record) ? unifiedActivityRecord({ instanceId: entry.instanceId, recordId: entry.recordId, body: entry.record, validUntil: entry.validUntil ?? entry.receivedAt, receipt }) : null;
  }
  const dataset = catalog.dataset(entry.datasetId);
  if (!dataset) return null;
  const prepared = prepareRecord({ catalog, dataset, raw: entry.record, recordId: entry.recordId, receipt, validUntil: entry.validUntil ?? null });
  if (!prepared.ok) return null;
  return entry.target !== undefined ? { ...prepared.record, target: entry.target } : prepared.record;
}

async function replayEntries(
  deps: { committer: Committer; catalog: Catalog },
  items: Item[],
): Promise<number> {
  const byInstance = new Map<string, { records: PreparedRecord[]; positions: LakePosition[] }>();
  for (const { entry, end, segment } of items) {
    const catalog = await deps.catalog.get(entry.instanceId);
    if (!catalog) continue;
    const record = recordOf(catalog, entry);
    if (!record) continue;
    const group = byInstance.get(entry.instanceId) ?? { records: [], positions: [] };
    group.records.push(record);
    group.positions.push({ segment, end });
    byInstance.set(entry.instanceId, group);
  }
  let n = 0;
  for (const [instanceId, group] of byInstance) {
    await deps.committer.replay({ instanceId, records: group.records, failed: [] }, group.positions);
    n += group.records.length;
  }
  return n;
}
