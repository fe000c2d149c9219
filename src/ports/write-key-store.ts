/** A write key of the Segment-compatible tracking API: its two datasets, and whether it is revoked. */
export interface WriteKey {
  id: string;
  instanceId: string;
  name: string;
  profileDatasetId: string;
  eventDatasetId: string;
  createdAt: number;
  revokedAt: number | null;
}

/** Where write keys are kept, by the hash of their secret (the secret itself never is). */
export interface WriteKeyStore {
  create(hash: string, key: WriteKey): Promise<void>;
  byHash(hash: string): Promise<WriteKey | undefined>;
  list(instanceId: string): Promise<WriteKey[]>;
  /** False when there is no such key, or it was revoked already. */
  revoke(instanceId: string, id: string, at: number): Promise<boolean>;
}
