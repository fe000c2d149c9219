import type { Namespace } from '../domain/identity/namespaces.js';
import type { DatasetDef, InstanceSettings, SchemaDef } from '../domain/schema/model.js';
import type { UnificationConfig } from '../domain/unify/config.js';

export type Role = 'admin' | 'contributor' | 'viewer';

/** A create that would repeat what must be unique (a schema's or dataset's name, a key's value): thrown by the store alike on every backend. */
export class AlreadyExists extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AlreadyExists';
  }
}

export interface Instance {
  id: string;
  name: string;
  createdAt: number;
  settings: InstanceSettings;
  /** Moves on with every change to the instance's catalog (settings, namespaces, schemas, datasets, unification); read back from the store. */
  catalogVersion?: number;
}

export interface ApiKeyRecord {
  id: string;
  instanceId: string;
  name: string;
  role: Role;
  createdAt: number;
  rotatedAt: number | null;
  revokedAt: number | null;
  /** Whether a secondary secret (the one before the last rotation) is still accepted. */
  hasSecondary: boolean;
}

export interface KeyMatch {
  key: ApiKeyRecord;
  which: 'primary' | 'secondary';
}

/** Instances, API keys, namespaces, schemas, datasets and settings: the control plane. */
export interface ControlStore {
  createInstance(instance: Instance): Promise<void>;
  getInstance(id: string): Promise<Instance | undefined>;
  listInstances(): Promise<Instance[]>;
  updateSettings(instanceId: string, settings: InstanceSettings): Promise<void>;

  createKey(key: ApiKeyRecord, primaryHash: string): Promise<void>;
  findKeyByHash(hash: string): Promise<KeyMatch | undefined>;
  getKey(instanceId: string, keyId: string): Promise<ApiKeyRecord | undefined>;
  listKeys(instanceId: string): Promise<ApiKeyRecord[]>;
  rotateKey(instanceId: string, keyId: string, newPrimaryHash: string, at: number): Promise<void>;
  dropSecondary(instanceId: string, keyId: string): Promise<void>;
  revokeKey(instanceId: string, keyId: string, at: number): Promise<void>;

  listNamespaces(instanceId: string): Promise<Namespace[]>;
  upsertNamespace(instanceId: string, ns: Namespace, at: number): Promise<void>;

  createSchema(schema: SchemaDef): Promise<void>;
  listSchemas(instanceId: string): Promise<SchemaDef[]>;

  createDataset(dataset: DatasetDef): Promise<void>;
  updateDataset(dataset: DatasetDef): Promise<void>;
  listDatasets(instanceId: string): Promise<DatasetDef[]>;

  getUnificationConfig(instanceId: string): Promise<UnificationConfig | undefined>;
  putUnificationConfig(instanceId: string, config: UnificationConfig, at: number): Promise<void>;
}
