import type { Clock } from '../domain/clock.js';
import { conflict, invalid, notFound } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import { isValidNamespaceCode, type Namespace, type NormalizerName } from '../domain/identity/namespaces.js';
import type { JsonObject } from '../domain/json-path.js';
import type { DatasetDef, IdentityDescriptor, InstanceSettings, MergePolicyName, SchemaClass, SchemaDef } from '../domain/schema/model.js';
import { AlreadyExists, type ControlStore } from '../ports/control-store.js';
import { compileRecordSchema, createAjv, type Catalog } from '../pipelines/ingest/catalog.js';

export interface SchemaInput {
  name: string;
  class: SchemaClass;
  jsonSchema: JsonObject;
  identities?: IdentityDescriptor[];
  fieldGroups?: string[];
  idField?: string;
  timestampField?: string;
}

export interface NamespaceInput {
  code: string;
  name?: string;
  normalizer?: NormalizerName;
  priority?: number;
  unique?: boolean;
  aliases?: string[];
}

export interface DatasetInput {
  name: string;
  schemaId: string;
  enabledForProfile?: boolean;
  enabledForIdentity?: boolean;
  precedence?: number;
  retentionDays?: number | null;
  columnMapping?: Record<string, string>;
}

/** Schemas, namespaces, datasets and settings of an instance; every change refreshes the catalog. */
export class CatalogAdmin {
  private readonly ajv = createAjv();

  constructor(
    private readonly control: ControlStore,
    private readonly catalog: Catalog,
    private readonly clock: Clock,
  ) {}

  async createSchema(instanceId: string, input: SchemaInput): Promise<SchemaDef> {
    compileRecordSchema(this.ajv, input.jsonSchema);
    const namespaces = await this.control.listNamespaces(instanceId);
    const identities = input.identities ?? [];
    for (const d of identities) {
      if (!namespaces.some((n) => n.code.toLowerCase() === d.namespace.toLowerCase())) {
        throw invalid('unknown_namespace', `identity field ${d.path} names namespace "${d.namespace}", which is not defined`);
      }
    }
    if (identities.filter((d) => d.primary).length > 1) throw invalid('several_primary_identities', 'at most one identity field can be primary');
    const schema: SchemaDef = {
      instanceId,
      id: newId(),
      name: input.name,
      class: input.class,
      jsonSchema: input.jsonSchema,
      identities,
      fieldGroups: input.fieldGroups ?? [],
      idField: input.idField ?? (input.class === 'activity' ? '_id' : 'id'),
      timestampField: input.timestampField ?? 'timestamp',
      version: 1,
      createdAt: this.clock.now(),
    };
    try {
      await this.control.createSchema(schema);
    } catch (err) {
      if (err instanceof AlreadyExists) throw conflict('schema_exists', err.message);
      throw err;
    }
    this.catalog.invalidate(instanceId);
    return schema;
  }

  listSchemas(instanceId: string): Promise<SchemaDef[]> {
    return this.control.listSchemas(instanceId);
  }

  async getSchema(instanceId: string, idOrName: string): Promise<SchemaDef> {
    const schema = (await this.control.listSchemas(instanceId)).find((s) => s.id === idOrName || s.name === idOrName);
    if (!schema) throw notFound('schema_not_found', `schema ${idOrName} does not exist`);
    return schema;
  }

  listNamespaces(instanceId: string): Promise<Namespace[]> {
    return this.control.listNamespaces(instanceId);
  }

  async upsertNamespace(instanceId: string, input: NamespaceInput): Promise<Namespace> {
    if (!isValidNamespaceCode(input.code)) throw invalid('invalid_namespace_code', 'a namespace code starts with a letter and has up to 64 letters, digits, _ and -');
    const existing = (await this.control.listNamespaces(instanceId)).find((n) => n.code.toLowerCase() === input.code.toLowerCase());
    const ns: Namespace = {
      code: existing?.code ?? input.code,
      name: input.name ?? existing?.name ?? input.code,
      normalizer: input.normalizer ?? existing?.normalizer ?? 'trim',
      priority: input.priority ?? existing?.priority ?? 10,
      unique: input.unique ?? existing?.unique ?? false,
      builtin: existing?.builtin ?? false,
      aliases: input.aliases ?? existing?.aliases ?? [],
    };
    await this.control.upsertNamespace(instanceId, ns, this.clock.now());
    this.catalog.invalidate(instanceId);
    return ns;
  }

  async createDataset(instanceId: string, input: DatasetInput): Promise<DatasetDef> {
    const schema = await this.getSchema(instanceId, input.schemaId).catch(() => {
      throw invalid('schema_not_found', `schemaId ${input.schemaId} does not name a schema of this instance`);
    });
    const dataset: DatasetDef = {
      instanceId,
      id: newId(),
      name: input.name,
      schemaId: schema.id,
      enabledForProfile: input.enabledForProfile ?? true,
      enabledForIdentity: input.enabledForIdentity ?? true,
      precedence: input.precedence ?? 100,
      retentionDays: input.retentionDays ?? null,
      columnMapping: input.columnMapping ?? {},
      createdAt: this.clock.now(),
    };
    try {
      await this.control.createDataset(dataset);
    } catch (err) {
      if (err instanceof AlreadyExists) throw conflict('dataset_exists', err.message);
      throw err;
    }
    this.catalog.invalidate(instanceId);
    return dataset;
  }

  listDatasets(instanceId: string): Promise<DatasetDef[]> {
    return this.control.listDatasets(instanceId);
  }

  async getDataset(instanceId: string, idOrName: string): Promise<DatasetDef> {
    const dataset = (await this.control.listDatasets(instanceId)).find((d) => d.id === idOrName || d.name === idOrName);
    if (!dataset) throw notFound('dataset_not_found', `dataset ${idOrName} does not exist`);
    return dataset;
  }

  async updateDataset(instanceId: string, idOrName: string, patch: Partial<Pick<DatasetDef, 'enabledForProfile' | 'enabledForIdentity' | 'precedence' | 'retentionDays' | 'columnMapping'>>): Promise<DatasetDef> {
    const dataset = { ...(await this.getDataset(instanceId, idOrName)), ...patch };
    await this.control.updateDataset(dataset);
    this.catalog.invalidate(instanceId);
    return dataset;
  }

  async getSettings(instanceId: string): Promise<InstanceSettings> {
    const instance = await this.control.getInstance(instanceId);
    if (!instance) throw notFound('instance_not_found', `instance ${instanceId} does not exist`);
    return instance.settings;
  }

  async updateSettings(instanceId: string, patch: Partial<InstanceSettings>): Promise<InstanceSettings> {
    const current = await this.getSettings(instanceId);
    const next: InstanceSettings = { ...current, ...patch };
    const policies: MergePolicyName[] = ['timestampOrdered', 'datasetPrecedence'];
    if (!policies.includes(next.mergePolicy)) throw invalid('invalid_merge_policy', `mergePolicy must be one of ${policies.join(', ')}`);
    if (!Number.isInteger(next.maxIdentitiesPerGraph) || next.maxIdentitiesPerGraph < 2) throw invalid('invalid_setting', 'maxIdentitiesPerGraph must be an integer of at least 2');
    await this.control.updateSettings(instanceId, next);
    this.catalog.invalidate(instanceId);
    return next;
  }
}
