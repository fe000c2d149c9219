import type { ActivityRow, FailedRecord, IdentityWarning, MergeRow, ProfileBundle, ProfileReader, ProfileRef, ProfileRow, StoredFragment, TimelineQuery } from '../../ports/profile-store.js';
import {
  parseObject,
  timelineSql,
  toActivity,
  toFailed,
  toFragment,
  toMerge,
  toOverride,
  toWarning,
  type ActivityDbRow,
  type FailedDbRow,
  type FragmentDbRow,
  type MergeDbRow,
  type OverrideDbRow,
  type WarningDbRow,
} from './profile-rows.js';
import type { SqlClient } from './sql-client.js';

const FRAGMENT_COLUMNS = 'dataset_id, record_key, customer_id, ts, received_at, record';

/** A profile row with what its view is made of, each list as JSON (`json_agg`: null when empty). */
interface BundleDbRow {
  customer_id: string;
  created_at: number;
  updated_at: number;
  fragments: FragmentDbRow[] | null;
  overrides: OverrideDbRow[] | null;
  identities: Array<{ namespace: string; value: string; firstSeen: number }> | null;
  previous: string[];
  enrichment: string | null;
}

/**
 * A profile (the one asked for, or the survivor it was merged into; or the one holding an
 * identity) and everything its view is merged from, in one statement: one snapshot, one round
 * trip. Ten statements in a read-only transaction took ten round trips, each a write to the
 * connection's socket and a wake-up of its backend. Duplicates a refresh did not pick stay linked
 * (key ring) but do not feed the merge.
 */
const bundleSql = (target: string): string => `
WITH target AS (${target})
SELECT p.customer_id, p.created_at, p.updated_at,
  (SELECT json_agg(f ORDER BY f.dataset_id, f.record_key) FROM (SELECT ${FRAGMENT_COLUMNS} FROM fragments WHERE instance_id = p.instance_id AND customer_id = p.customer_id AND dedup_loser = 0) f) AS fragments,
  (SELECT json_agg(o ORDER BY o.path) FROM (SELECT path, value, set_at, valid_until, caller, request_id FROM overrides WHERE instance_id = p.instance_id AND customer_id = p.customer_id) o) AS overrides,
  (SELECT json_agg(i ORDER BY i.namespace, i.value) FROM (SELECT namespace, value, first_seen AS "firstSeen" FROM identities WHERE instance_id = p.instance_id AND customer_id = p.customer_id) i) AS identities,
  ARRAY(SELECT old_id FROM customer_aliases WHERE instance_id = p.instance_id AND survivor_id = p.customer_id ORDER BY old_id) AS previous,
  (SELECT attributes FROM enrichments WHERE instance_id = p.instance_id AND customer_id = p.customer_id) AS enrichment
FROM target t JOIN profiles p ON p.instance_id = ? AND p.customer_id = t.customer_id`;

/** By customer id: the profile, or the survivor of the alias. */
const BUNDLE_BY_ID_SQL = bundleSql(`
  (SELECT customer_id FROM profiles WHERE instance_id = ? AND customer_id = ?)
  UNION ALL
  (SELECT survivor_id FROM customer_aliases WHERE instance_id = ? AND old_id = ?)
  LIMIT 1`);
/** By identity: its owner. */
const BUNDLE_BY_IDENTITY_SQL = bundleSql('SELECT customer_id FROM identities WHERE instance_id = ? AND namespace = ? AND value = ?');

/** Reads of profile state in portable SQL (the PostgreSQL backend); a profile comes from one snapshot. */
export class SqlProfileReader implements ProfileReader {
  constructor(private readonly db: SqlClient) {}

  async resolveCustomerId(instanceId: string, customerId: string): Promise<string | undefined> {
    if (await this.db.get('SELECT 1 AS one FROM profiles WHERE instance_id = ? AND customer_id = ?', [instanceId, customerId])) return customerId;
    return (await this.db.get<{ survivor_id: string }>('SELECT survivor_id FROM customer_aliases WHERE instance_id = ? AND old_id = ?', [instanceId, customerId]))?.survivor_id;
  }

  async profileBundle(instanceId: string, ref: ProfileRef): Promise<ProfileBundle | undefined> {
    const row =
      'customerId' in ref
        ? await this.db.get<BundleDbRow>(BUNDLE_BY_ID_SQL, [instanceId, ref.customerId, instanceId, ref.customerId, instanceId])
        : await this.db.get<BundleDbRow>(BUNDLE_BY_IDENTITY_SQL, [instanceId, ref.namespace, ref.value, instanceId]);
    if (!row) return undefined;
    return {
      customerId: row.customer_id,
      row: { customerId: row.customer_id, createdAt: row.created_at, updatedAt: row.updated_at },
      fragments: (row.fragments ?? []).map(toFragment),
      overrides: (row.overrides ?? []).map(toOverride),
      identities: row.identities ?? [],
      previousIds: row.previous,
      enrichment: parseObject(row.enrichment ?? undefined),
    };
  }

  async profile(instanceId: string, customerId: string): Promise<ProfileRow | undefined> {
    const row = await this.db.get<{ created_at: number; updated_at: number }>('SELECT created_at, updated_at FROM profiles WHERE instance_id = ? AND customer_id = ?', [instanceId, customerId]);
    return row && { customerId, createdAt: row.created_at, updatedAt: row.updated_at };
  }

  async findByIdentity(instanceId: string, namespace: string, value: string): Promise<string | undefined> {
    return (await this.db.get<{ customer_id: string }>('SELECT customer_id FROM identities WHERE instance_id = ? AND namespace = ? AND value = ?', [instanceId, namespace, value]))?.customer_id;
  }

  async findByRecordKey(instanceId: string, datasetId: string, recordKey: string): Promise<string | undefined> {
    return (await this.db.get<{ customer_id: string }>('SELECT customer_id FROM fragments WHERE instance_id = ? AND dataset_id = ? AND record_key = ?', [instanceId, datasetId, recordKey]))?.customer_id;
  }

  async activity(instanceId: string, activityId: string): Promise<ActivityRow | undefined> {
    const row = await this.db.get<ActivityDbRow>('SELECT * FROM activities WHERE instance_id = ? AND activity_id = ?', [instanceId, activityId]);
    return row && toActivity(row);
  }

  identities(instanceId: string, customerId: string): Promise<Array<{ namespace: string; value: string; firstSeen: number }>> {
    return this.db.all('SELECT namespace, value, first_seen AS "firstSeen" FROM identities WHERE instance_id = ? AND customer_id = ? ORDER BY namespace, value', [instanceId, customerId]);
  }

  async previousIds(instanceId: string, customerId: string): Promise<string[]> {
    return (await this.db.all<{ old_id: string }>('SELECT old_id FROM customer_aliases WHERE instance_id = ? AND survivor_id = ? ORDER BY old_id', [instanceId, customerId])).map((r) => r.old_id);
  }

  async fragments(instanceId: string, customerId: string): Promise<StoredFragment[]> {
    return (await this.db.all<FragmentDbRow>(`SELECT ${FRAGMENT_COLUMNS} FROM fragments WHERE instance_id = ? AND customer_id = ? ORDER BY dataset_id, record_key`, [instanceId, customerId])).map(toFragment);
  }

  async timeline(instanceId: string, customerId: string, q: TimelineQuery): Promise<ActivityRow[]> {
    const { sql, params } = timelineSql(instanceId, customerId, q);
    return (await this.db.all<ActivityDbRow>(sql, params)).map(toActivity);
  }

  async merges(instanceId: string, customerId: string): Promise<MergeRow[]> {
    return (await this.db.all<MergeDbRow>('SELECT * FROM merges WHERE instance_id = ? AND survivor_id = ? ORDER BY at, id', [instanceId, customerId])).map(toMerge);
  }

  async warnings(instanceId: string, limit: number, offset: number): Promise<IdentityWarning[]> {
    return (await this.db.all<WarningDbRow>('SELECT * FROM identity_warnings WHERE instance_id = ? ORDER BY id DESC LIMIT ? OFFSET ?', [instanceId, limit, offset])).map(toWarning);
  }

  async failedRecords(instanceId: string, datasetId: string, limit: number, offset: number): Promise<FailedRecord[]> {
    return (await this.db.all<FailedDbRow>('SELECT * FROM failed_records WHERE instance_id = ? AND dataset_id = ? ORDER BY id LIMIT ? OFFSET ?', [instanceId, datasetId, limit, offset])).map(toFailed);
  }

  async countProfiles(instanceId: string): Promise<number> {
    return (await this.db.get<{ n: number }>('SELECT count(*) AS n FROM profiles WHERE instance_id = ?', [instanceId]))?.n ?? 0;
  }

  async listCustomerIds(instanceId: string, after: string, limit: number): Promise<string[]> {
    return (await this.db.all<{ customer_id: string }>('SELECT customer_id FROM profiles WHERE instance_id = ? AND customer_id > ? ORDER BY customer_id LIMIT ?', [instanceId, after, limit])).map((r) => r.customer_id);
  }

  async lakeWatermarks(): Promise<Map<string, number>> {
    const rows = await this.db.all<{ segment: string; applied_offset: number }>('SELECT segment, applied_offset FROM lake_watermarks');
    return new Map(rows.map((r) => [r.segment, r.applied_offset]));
  }
}
