import type { ActivityRow, FailedRecord, IdentityWarning, MergeRow, ProfileBundle, ProfileReader, ProfileRow, StoredFragment, TimelineQuery } from '../../ports/profile-store.js';
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

/** Reads of profile state in portable SQL (the PostgreSQL backend); a profile comes from one snapshot. */
export class SqlProfileReader implements ProfileReader {
  constructor(private readonly db: SqlClient) {}

  private async resolve(db: SqlClient, instanceId: string, customerId: string): Promise<string | undefined> {
    if (await db.get('SELECT 1 AS one FROM profiles WHERE instance_id = ? AND customer_id = ?', [instanceId, customerId])) return customerId;
    return (await db.get<{ survivor_id: string }>('SELECT survivor_id FROM customer_aliases WHERE instance_id = ? AND old_id = ?', [instanceId, customerId]))?.survivor_id;
  }

  resolveCustomerId(instanceId: string, customerId: string): Promise<string | undefined> {
    return this.resolve(this.db, instanceId, customerId);
  }

  profileBundle(instanceId: string, requestedId: string): Promise<ProfileBundle | undefined> {
    return this.db.transaction(
      async (db) => {
        const customerId = await this.resolve(db, instanceId, requestedId);
        if (customerId === undefined) return undefined;
        const row = await db.get<{ created_at: number; updated_at: number }>('SELECT created_at, updated_at FROM profiles WHERE instance_id = ? AND customer_id = ?', [instanceId, customerId]);
        if (!row) return undefined;
        const key = [instanceId, customerId];
        const [fragments, overrides, identities, previous, enrichment] = [
          // Duplicates a refresh did not pick stay linked (key ring) but do not feed the merge.
          await db.all<FragmentDbRow>(`SELECT ${FRAGMENT_COLUMNS} FROM fragments WHERE instance_id = ? AND customer_id = ? AND dedup_loser = 0 ORDER BY dataset_id, record_key`, key),
          await db.all<OverrideDbRow>('SELECT path, value, set_at, valid_until, caller, request_id FROM overrides WHERE instance_id = ? AND customer_id = ? ORDER BY path', key),
          await this.identitiesIn(db, instanceId, customerId),
          await this.previousIn(db, instanceId, customerId),
          await db.get<{ attributes: string }>('SELECT attributes FROM enrichments WHERE instance_id = ? AND customer_id = ?', key),
        ];
        return {
          customerId,
          row: { customerId, createdAt: row.created_at, updatedAt: row.updated_at },
          fragments: fragments.map(toFragment),
          overrides: overrides.map(toOverride),
          identities,
          previousIds: previous,
          enrichment: parseObject(enrichment?.attributes),
        };
      },
      { readSnapshot: true },
    );
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

  private identitiesIn(db: SqlClient, instanceId: string, customerId: string): Promise<Array<{ namespace: string; value: string; firstSeen: number }>> {
    return db.all('SELECT namespace, value, first_seen AS "firstSeen" FROM identities WHERE instance_id = ? AND customer_id = ? ORDER BY namespace, value', [instanceId, customerId]);
  }

  private async previousIn(db: SqlClient, instanceId: string, customerId: string): Promise<string[]> {
    return (await db.all<{ old_id: string }>('SELECT old_id FROM customer_aliases WHERE instance_id = ? AND survivor_id = ? ORDER BY old_id', [instanceId, customerId])).map((r) => r.old_id);
  }

  identities(instanceId: string, customerId: string): Promise<Array<{ namespace: string; value: string; firstSeen: number }>> {
    return this.identitiesIn(this.db, instanceId, customerId);
  }

  previousIds(instanceId: string, customerId: string): Promise<string[]> {
    return this.previousIn(this.db, instanceId, customerId);
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
