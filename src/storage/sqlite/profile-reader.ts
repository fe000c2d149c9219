import type Database from 'better-sqlite3';
import { parseObject, timelineSql, toActivity, toFailed, toFragment, toMerge, toOverride, toWarning, type ActivityDbRow, type FailedDbRow, type FragmentDbRow, type MergeDbRow, type OverrideDbRow, type WarningDbRow } from '../sql/profile-rows.js';
import type {
  ActivityRow,
  FailedRecord,
  IdentityWarning,
  MergeRow,
  ProfileBundle,
  ProfileRef,
  ProfileReader,
  ProfileRow,
  StoredFragment,
  TimelineQuery,
} from '../../ports/profile-store.js';

/** Reads on their own connection, so that they never wait for the writer (WAL). */
export class SqliteProfileReader implements ProfileReader {
  private readonly s: Record<string, Database.Statement>;
  /** Timeline queries differ only by which filters they use: each shape is prepared once. */
  private readonly timelineStatements = new Map<string, Database.Statement>();

  constructor(private readonly db: Database.Database) {
    const p = (sql: string): Database.Statement => db.prepare(sql);
    this.s = {
      alias: p('SELECT survivor_id FROM customer_aliases WHERE instance_id = ? AND old_id = ?').pluck(),
      exists: p('SELECT 1 FROM profiles WHERE instance_id = ? AND customer_id = ?').pluck(),
      profile: p('SELECT customer_id, created_at, updated_at FROM profiles WHERE instance_id = ? AND customer_id = ?'),
      byIdentity: p('SELECT customer_id FROM identities WHERE instance_id = ? AND namespace = ? AND value = ?').pluck(),
      byRecordKey: p('SELECT customer_id FROM fragments WHERE instance_id = ? AND dataset_id = ? AND record_key = ?').pluck(),
      identities: p('SELECT namespace, value, first_seen AS firstSeen FROM identities INDEXED BY identities_customer WHERE instance_id = ? AND customer_id = ? ORDER BY namespace, value'),
      previous: p('SELECT old_id FROM customer_aliases INDEXED BY customer_aliases_survivor WHERE instance_id = ? AND survivor_id = ? ORDER BY old_id').pluck(),
      fragments: p('SELECT dataset_id, record_key, customer_id, ts, received_at, record FROM fragments INDEXED BY fragments_customer WHERE instance_id = ? AND customer_id = ? ORDER BY dataset_id, record_key'),
      merges: p('SELECT * FROM merges INDEXED BY merges_survivor WHERE instance_id = ? AND survivor_id = ? ORDER BY at, id'),
      warnings: p('SELECT * FROM identity_warnings WHERE instance_id = ? ORDER BY id DESC LIMIT ? OFFSET ?'),
      failed: p('SELECT * FROM failed_records WHERE instance_id = ? AND dataset_id = ? ORDER BY id LIMIT ? OFFSET ?'),
      overrides: p('SELECT path, value, set_at, valid_until, caller, request_id FROM overrides WHERE instance_id = ? AND customer_id = ? ORDER BY path'),
      activity: p('SELECT * FROM activities WHERE instance_id = ? AND activity_id = ?'),
      enrichment: p('SELECT attributes FROM enrichments WHERE instance_id = ? AND customer_id = ?').pluck(),
      mergedFragments: p(
        'SELECT dataset_id, record_key, customer_id, ts, received_at, record FROM fragments INDEXED BY fragments_customer WHERE instance_id = ? AND customer_id = ? AND dedup_loser = 0 ORDER BY dataset_id, record_key',
      ),
      begin: p('BEGIN'),
      commit: p('COMMIT'),
      list: p('SELECT customer_id FROM profiles WHERE instance_id = ? AND customer_id > ? ORDER BY customer_id LIMIT ?').pluck(),
      count: p('SELECT count(*) FROM profiles WHERE instance_id = ?').pluck(),
      watermarks: p('SELECT segment, applied_offset FROM lake_watermarks'),
    };
  }

  private resolveSync(instanceId: string, customerId: string): string | undefined {
    if (this.s['exists']!.get(instanceId, customerId) !== undefined) return customerId;
    return this.s['alias']!.get(instanceId, customerId) as string | undefined;
  }

  async resolveCustomerId(instanceId: string, customerId: string): Promise<string | undefined> {
    return this.resolveSync(instanceId, customerId);
  }

  async profileBundle(instanceId: string, ref: ProfileRef): Promise<ProfileBundle | undefined> {
    // One read transaction: all of it from the same snapshot, whatever the writer commits meanwhile.
    this.s['begin']!.run();
    try {
      const customerId =
        'customerId' in ref ? this.resolveSync(instanceId, ref.customerId) : (this.s['byIdentity']!.get(instanceId, ref.namespace, ref.value) as string | undefined);
      if (customerId === undefined) return undefined;
      const row = this.s['profile']!.get(instanceId, customerId) as { customer_id: string; created_at: number; updated_at: number } | undefined;
      if (!row) return undefined;
      return {
        customerId,
        row: { customerId, createdAt: row.created_at, updatedAt: row.updated_at },
        // Duplicates a refresh did not pick stay linked (key ring) but do not feed the merge.
        fragments: this.fragmentsSync(instanceId, customerId, 'mergedFragments'),
        overrides: (this.s['overrides']!.all(instanceId, customerId) as OverrideDbRow[]).map(toOverride),
        identities: this.s['identities']!.all(instanceId, customerId) as Array<{ namespace: string; value: string; firstSeen: number }>,
        previousIds: this.s['previous']!.all(instanceId, customerId) as string[],
        enrichment: parseObject(this.s['enrichment']!.get(instanceId, customerId) as string | undefined),
      };
    } finally {
      this.s['commit']!.run();
    }
  }

  async profile(instanceId: string, customerId: string): Promise<ProfileRow | undefined> {
    const row = this.s['profile']!.get(instanceId, customerId) as
      | { customer_id: string; created_at: number; updated_at: number }
      | undefined;
    return row && { customerId: row.customer_id, createdAt: row.created_at, updatedAt: row.updated_at };
  }

  async findByIdentity(instanceId: string, namespace: string, value: string): Promise<string | undefined> {
    return this.s['byIdentity']!.get(instanceId, namespace, value) as string | undefined;
  }

  async findByRecordKey(instanceId: string, datasetId: string, recordKey: string): Promise<string | undefined> {
    return this.s['byRecordKey']!.get(instanceId, datasetId, recordKey) as string | undefined;
  }

  async activity(instanceId: string, activityId: string): Promise<ActivityRow | undefined> {
    const row = this.s['activity']!.get(instanceId, activityId) as ActivityDbRow | undefined;
    return row && toActivity(row);
  }

  async identities(instanceId: string, customerId: string): Promise<Array<{ namespace: string; value: string; firstSeen: number }>> {
    return this.s['identities']!.all(instanceId, customerId) as Array<{ namespace: string; value: string; firstSeen: number }>;
  }

  async previousIds(instanceId: string, customerId: string): Promise<string[]> {
    return this.s['previous']!.all(instanceId, customerId) as string[];
  }

  async fragments(instanceId: string, customerId: string): Promise<StoredFragment[]> {
    return this.fragmentsSync(instanceId, customerId);
  }

  private fragmentsSync(instanceId: string, customerId: string, statement: 'fragments' | 'mergedFragments' = 'fragments'): StoredFragment[] {
    return (this.s[statement]!.all(instanceId, customerId) as FragmentDbRow[]).map(toFragment);
  }

  async timeline(instanceId: string, customerId: string, q: TimelineQuery): Promise<ActivityRow[]> {
    const { sql, params } = timelineSql(instanceId, customerId, q);
    let stmt = this.timelineStatements.get(sql);
    if (!stmt) this.timelineStatements.set(sql, (stmt = this.db.prepare(sql)));
    return (stmt.all(...params) as ActivityDbRow[]).map(toActivity);
  }

  async merges(instanceId: string, customerId: string): Promise<MergeRow[]> {
    return (this.s['merges']!.all(instanceId, customerId) as MergeDbRow[]).map(toMerge);
  }

  async warnings(instanceId: string, limit: number, offset: number): Promise<IdentityWarning[]> {
    return (this.s['warnings']!.all(instanceId, limit, offset) as WarningDbRow[]).map(toWarning);
  }

  async failedRecords(instanceId: string, datasetId: string, limit: number, offset: number): Promise<FailedRecord[]> {
    return (this.s['failed']!.all(instanceId, datasetId, limit, offset) as FailedDbRow[]).map(toFailed);
  }

  async countProfiles(instanceId: string): Promise<number> {
    return this.s['count']!.get(instanceId) as number;
  }

  async listCustomerIds(instanceId: string, after: string, limit: number): Promise<string[]> {
    return this.s['list']!.all(instanceId, after, limit) as string[];
  }

  async lakeWatermarks(): Promise<Map<string, number>> {
    const rows = this.s['watermarks']!.all() as Array<{ segment: string; applied_offset: number }>;
    return new Map(rows.map((r) => [r.segment, r.applied_offset]));
  }
}
