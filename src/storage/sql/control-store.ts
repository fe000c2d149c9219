import type { Namespace, NormalizerName } from '../../domain/identity/namespaces.js';
import type { JsonObject } from '../../domain/json-path.js';
import type { DatasetDef, IdentityDescriptor, InstanceSettings, SchemaClass, SchemaDef } from '../../domain/schema/model.js';
import type { UnificationConfig } from '../../domain/unify/config.js';
import { isUniqueViolation, type SqlClient, type SqlValue } from './sql-client.js';
import { AlreadyExists, type ApiKeyRecord, type ControlStore, type Instance, type KeyMatch, type Role } from '../../ports/control-store.js';

interface KeyRow {
  id: string;
  instance_id: string;
  name: string;
  role: string;
  primary_hash: string;
  secondary_hash: string | null;
  created_at: number;
  rotated_at: number | null;
  revoked_at: number | null;
}

interface SchemaRow {
  instance_id: string;
  id: string;
  name: string;
  class: string;
  json_schema: string;
  identities: string;
  field_groups: string;
  id_field: string;
  timestamp_field: string;
  version: number;
  created_at: number;
}

interface DatasetRow {
  instance_id: string;
  id: string;
  name: string;
  schema_id: string;
  enabled_profile: number;
  enabled_identity: number;
  precedence: number;
  retention_days: number | null;
  column_mapping: string | null;
  created_at: number;
}

interface NamespaceRow {
  code: string;
  name: string;
  normalizer: string;
  priority: number;
  is_unique: number;
  builtin: number;
  aliases: string;
}

interface InstanceRow {
  id: string;
  name: string;
  created_at: number;
  settings: string;
  catalog_version: number;
}

const toInstance = (row: InstanceRow): Instance => ({ id: row.id, name: row.name, createdAt: row.created_at, settings: JSON.parse(row.settings) as InstanceSettings, catalogVersion: Number(row.catalog_version) });

const toKey = (r: KeyRow): ApiKeyRecord => ({
  id: r.id,
  instanceId: r.instance_id,
  name: r.name,
  role: r.role as Role,
  createdAt: r.created_at,
  rotatedAt: r.rotated_at,
  revokedAt: r.revoked_at,
  hasSecondary: r.secondary_hash !== null,
});

const toSchema = (r: SchemaRow): SchemaDef => ({
  instanceId: r.instance_id,
  id: r.id,
  name: r.name,
  class: r.class as SchemaClass,
  jsonSchema: JSON.parse(r.json_schema) as JsonObject,
  identities: JSON.parse(r.identities) as IdentityDescriptor[],
  fieldGroups: JSON.parse(r.field_groups) as string[],
  idField: r.id_field,
  timestampField: r.timestamp_field,
  version: r.version,
  createdAt: r.created_at,
});

const mappingText = (m: Record<string, string>): string | null => (Object.keys(m).length > 0 ? JSON.stringify(m) : null);

const toDataset = (r: DatasetRow): DatasetDef => ({
  instanceId: r.instance_id,
  id: r.id,
  name: r.name,
  schemaId: r.schema_id,
  enabledForProfile: r.enabled_profile === 1,
  enabledForIdentity: r.enabled_identity === 1,
  precedence: r.precedence,
  retentionDays: r.retention_days,
  columnMapping: r.column_mapping ? (JSON.parse(r.column_mapping) as Record<string, string>) : {},
  createdAt: r.created_at,
});

/** The control plane in SQL, the same on SQLite and PostgreSQL (through a SqlClient). */
export class SqlControlStore implements ControlStore {
  constructor(private readonly db: SqlClient) {}

  /** After a change to an instance's catalog: other processes' cached catalogs are older from now on. */
  private async catalogChanged(instanceId: string): Promise<void> {
    await this.db.run('UPDATE instances SET catalog_version = catalog_version + 1 WHERE id = ?', [instanceId]);
  }

  async createInstance(instance: Instance): Promise<void> {
    await this.db.run('INSERT INTO instances (id, name, created_at, settings) VALUES (?, ?, ?, ?)', [instance.id, instance.name, instance.createdAt, JSON.stringify(instance.settings)]);
  }

  async getInstance(id: string): Promise<Instance | undefined> {
    const row = await this.db.get<InstanceRow>('SELECT * FROM instances WHERE id = ?', [id]);
    return row && toInstance(row);
  }

  async listInstances(): Promise<Instance[]> {
    return (await this.db.all<InstanceRow>('SELECT * FROM instances ORDER BY id')).map(toInstance);
  }

  async updateSettings(instanceId: string, settings: InstanceSettings): Promise<void> {
    await this.db.run('UPDATE instances SET settings = ?, catalog_version = catalog_version + 1 WHERE id = ?', [JSON.stringify(settings), instanceId]);
  }

  /** An insert whose unique key may be taken already: then `AlreadyExists`, alike on both dialects. */
  private async insertUnique(what: string, sql: string, params: readonly SqlValue[]): Promise<void> {
    try {
      await this.db.run(sql, params);
    } catch (err) {
      throw isUniqueViolation(err) ? new AlreadyExists(`${what} already exists`) : err;
    }
  }

  async createKey(key: ApiKeyRecord, primaryHash: string): Promise<void> {
    await this.insertUnique('that key value', 'INSERT INTO api_keys (id, instance_id, name, role, primary_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)', [key.id, key.instanceId, key.name, key.role, primaryHash, key.createdAt]);
  }

  async findKeyByHash(hash: string): Promise<KeyMatch | undefined> {
    const primary = await this.db.get<KeyRow>('SELECT * FROM api_keys WHERE primary_hash = ?', [hash]);
    if (primary) return { key: toKey(primary), which: 'primary' };
    const secondary = await this.db.get<KeyRow>('SELECT * FROM api_keys WHERE secondary_hash = ?', [hash]);
    return secondary && { key: toKey(secondary), which: 'secondary' };
  }

  async getKey(instanceId: string, keyId: string): Promise<ApiKeyRecord | undefined> {
    const row = await this.db.get<KeyRow>('SELECT * FROM api_keys WHERE instance_id = ? AND id = ?', [instanceId, keyId]);
    return row && toKey(row);
  }

  async listKeys(instanceId: string): Promise<ApiKeyRecord[]> {
    return (await this.db.all<KeyRow>('SELECT * FROM api_keys WHERE instance_id = ? ORDER BY created_at, id', [instanceId])).map(toKey);
  }

  async rotateKey(instanceId: string, keyId: string, newPrimaryHash: string, at: number): Promise<void> {
    await this.db.run('UPDATE api_keys SET secondary_hash = primary_hash, primary_hash = ?, rotated_at = ? WHERE instance_id = ? AND id = ?', [newPrimaryHash, at, instanceId, keyId]);
  }

  async dropSecondary(instanceId: string, keyId: string): Promise<void> {
    await this.db.run('UPDATE api_keys SET secondary_hash = NULL WHERE instance_id = ? AND id = ?', [instanceId, keyId]);
  }

  async revokeKey(instanceId: string, keyId: string, at: number): Promise<void> {
    await this.db.run('UPDATE api_keys SET revoked_at = ? WHERE instance_id = ? AND id = ? AND revoked_at IS NULL', [at, instanceId, keyId]);
  }

  async listNamespaces(instanceId: string): Promise<Namespace[]> {
    const rows = await this.db.all<NamespaceRow>('SELECT * FROM namespaces WHERE instance_id = ? ORDER BY priority, code', [instanceId]);
    return rows.map((r) => ({
      code: r.code,
      name: r.name,
      normalizer: r.normalizer as NormalizerName,
      priority: r.priority,
      unique: r.is_unique === 1,
      builtin: r.builtin === 1,
      aliases: JSON.parse(r.aliases) as string[],
    }));
  }

  async upsertNamespace(instanceId: string, ns: Namespace, at: number): Promise<void> {
    await this.db.run(
      `INSERT INTO namespaces (instance_id, code, name, normalizer, priority, is_unique, builtin, aliases, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (instance_id, code) DO UPDATE SET name = excluded.name, normalizer = excluded.normalizer,
         priority = excluded.priority, is_unique = excluded.is_unique, aliases = excluded.aliases`,
      [instanceId, ns.code, ns.name, ns.normalizer, ns.priority, ns.unique ? 1 : 0, ns.builtin ? 1 : 0, JSON.stringify(ns.aliases), at],
    );
    await this.catalogChanged(instanceId);
  }

  async createSchema(s: SchemaDef): Promise<void> {
    await this.insertUnique(
      `a schema named ${s.name}`,
      `INSERT INTO schemas (instance_id, id, name, class, json_schema, identities, field_groups, id_field, timestamp_field, version, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [s.instanceId, s.id, s.name, s.class, JSON.stringify(s.jsonSchema), JSON.stringify(s.identities), JSON.stringify(s.fieldGroups), s.idField, s.timestampField, s.version, s.createdAt],
    );
    await this.catalogChanged(s.instanceId);
  }

  async listSchemas(instanceId: string): Promise<SchemaDef[]> {
    return (await this.db.all<SchemaRow>('SELECT * FROM schemas WHERE instance_id = ? ORDER BY created_at, id', [instanceId])).map(toSchema);
  }

  async createDataset(d: DatasetDef): Promise<void> {
    await this.insertUnique(
      `a dataset named ${d.name}`,
      `INSERT INTO datasets (instance_id, id, name, schema_id, enabled_profile, enabled_identity, precedence, retention_days, column_mapping, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [d.instanceId, d.id, d.name, d.schemaId, d.enabledForProfile ? 1 : 0, d.enabledForIdentity ? 1 : 0, d.precedence, d.retentionDays, mappingText(d.columnMapping), d.createdAt],
    );
    await this.catalogChanged(d.instanceId);
  }

  async updateDataset(d: DatasetDef): Promise<void> {
    await this.db.run('UPDATE datasets SET enabled_profile = ?, enabled_identity = ?, precedence = ?, retention_days = ?, column_mapping = ? WHERE instance_id = ? AND id = ?', [
      d.enabledForProfile ? 1 : 0,
      d.enabledForIdentity ? 1 : 0,
      d.precedence,
      d.retentionDays,
      mappingText(d.columnMapping),
      d.instanceId,
      d.id,
    ]);
    await this.catalogChanged(d.instanceId);
  }

  async listDatasets(instanceId: string): Promise<DatasetDef[]> {
    return (await this.db.all<DatasetRow>('SELECT * FROM datasets WHERE instance_id = ? ORDER BY created_at, id', [instanceId])).map(toDataset);
  }

  async getUnificationConfig(instanceId: string): Promise<UnificationConfig | undefined> {
    const row = await this.db.get<{ config: string }>('SELECT config FROM unification_configs WHERE instance_id = ?', [instanceId]);
    return row === undefined ? undefined : (JSON.parse(row.config) as UnificationConfig);
  }

  async putUnificationConfig(instanceId: string, config: UnificationConfig, at: number): Promise<void> {
    await this.db.run(
      'INSERT INTO unification_configs (instance_id, config, updated_at) VALUES (?, ?, ?) ON CONFLICT (instance_id) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at',
      [instanceId, JSON.stringify(config), at],
    );
    await this.catalogChanged(instanceId);
  }
}
