import type { WriteKey, WriteKeyStore } from '../../ports/write-key-store.js';
import type { SqlClient } from './sql-client.js';

interface Row {
  id: string;
  instance_id: string;
  name: string;
  profile_dataset_id: string;
  event_dataset_id: string;
  created_at: number;
  revoked_at: number | null;
}

const toKey = (r: Row): WriteKey => ({
  id: r.id,
  instanceId: r.instance_id,
  name: r.name,
  profileDatasetId: r.profile_dataset_id,
  eventDatasetId: r.event_dataset_id,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
});

/** Write keys of the Segment-compatible tracking API, stored hashed. */
export class SqlWriteKeyStore implements WriteKeyStore {
  constructor(private readonly db: SqlClient) {}

  async create(hash: string, k: WriteKey): Promise<void> {
    await this.db.run('INSERT INTO write_keys (key_hash, id, instance_id, name, profile_dataset_id, event_dataset_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [
      hash,
      k.id,
      k.instanceId,
      k.name,
      k.profileDatasetId,
      k.eventDatasetId,
      k.createdAt,
    ]);
  }

  async byHash(hash: string): Promise<WriteKey | undefined> {
    const r = await this.db.get<Row>('SELECT * FROM write_keys WHERE key_hash = ?', [hash]);
    return r && toKey(r);
  }

  async list(instanceId: string): Promise<WriteKey[]> {
    return (await this.db.all<Row>('SELECT * FROM write_keys WHERE instance_id = ? ORDER BY created_at', [instanceId])).map(toKey);
  }

  async revoke(instanceId: string, id: string, at: number): Promise<boolean> {
    return (await this.db.run('UPDATE write_keys SET revoked_at = ? WHERE instance_id = ? AND id = ? AND revoked_at IS NULL', [at, instanceId, id])).changes > 0;
  }
}
