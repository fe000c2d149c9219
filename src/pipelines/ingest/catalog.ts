import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { BUILTIN_NAMESPACES, NamespaceIndex, type Namespace } from '../../domain/identity/namespaces.js';
import { BlockedValues } from '../../domain/identity/normalize.js';
import type { JsonObject } from '../../domain/json-path.js';
import type { DatasetDef, InstanceSettings, SchemaDef } from '../../domain/schema/model.js';
import type { FieldMergePolicy, Fragment } from '../../domain/profile/merge-policy.js';
import { invalid } from '../../domain/errors.js';
import type { ControlStore, Instance } from '../../ports/control-store.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/** The XDM identityMap shape, added to every schema that does not declare it. */
export const IDENTITY_MAP_SCHEMA: JsonObject = {
  type: 'object',
  additionalProperties: {
    type: 'array',
    items: {
      type: 'object',
      required: ['id'],
      properties: {
        id: { type: ['string', 'number'] },
        primary: { type: 'boolean' },
        authenticatedState: { type: 'string', enum: ['ambiguous', 'authenticated', 'loggedOut'] },
      },
    },
  },
};

export function createAjv(): Ajv {
  const ajv = new Ajv({ allErrors: true, strict: false, allowUnionTypes: true });
  addFormats(ajv);
  return ajv;
}

/** Compiles a user's JSON Schema with the identityMap field added; throws a clear error if it is not a valid schema. */
export function compileRecordSchema(ajv: Ajv, jsonSchema: JsonObject): ValidateFunction {
  const withMap: JsonObject = { ...jsonSchema };
  const props = (withMap['properties'] ?? {}) as JsonObject;
  if (!('identityMap' in props)) withMap['properties'] = { ...props, identityMap: IDENTITY_MAP_SCHEMA };
  delete withMap['$id'];
  delete withMap['$schema'];
  try {
    return ajv.compile(withMap);
  } catch (err) {
    throw invalid('invalid_json_schema', `jsonSchema is not a valid JSON Schema: ${(err as Error).message}`);
  }
}

/** What an instance catalog is made of: plain data, which can be sent to another thread and made into a catalog there. */
export interface CatalogSource {
  instance: Instance;
  namespaces: Namespace[];
  schemas: SchemaDef[];
  datasets: DatasetDef[];
  fieldMergePolicies: FieldMergePolicy[];
}

/** Everything ingestion needs to know about one instance, cached until something changes. */
export class InstanceCatalog {
  /** A catalog of its own (with validators compiled anew) from what another was made of. */
  static fromSource(s: CatalogSource): InstanceCatalog {
    return new InstanceCatalog(s.instance, s.namespaces, s.schemas, s.datasets, createAjv(), s.fieldMergePolicies);
  }

  readonly namespaces: NamespaceIndex;
  readonly uniqueNamespaces: ReadonlySet<string>;
  readonly blocked: BlockedValues;
  readonly datasetsById = new Map<string, DatasetDef>();
  readonly datasetsByName = new Map<string, DatasetDef>();
  readonly schemasById = new Map<string, SchemaDef>();
  private readonly validators = new Map<string, ValidateFunction>();
  readonly source: CatalogSource;

  /** The instance's catalog version when this was loaded. */
  get version(): number {
    return this.instance.catalogVersion ?? 0;
  }

  constructor(
    readonly instance: Instance,
    namespaces: Namespace[],
    schemas: SchemaDef[],
    datasets: DatasetDef[],
    private readonly ajv: Ajv,
    /** Merge policies per field or field group, from the unification settings. */
    readonly fieldMergePolicies: readonly FieldMergePolicy[] = [],
  ) {
    this.source = { instance, namespaces, schemas, datasets, fieldMergePolicies: [...fieldMergePolicies] };
    this.namespaces = new NamespaceIndex(namespaces);
    this.uniqueNamespaces = new Set(namespaces.filter((n) => n.unique).map((n) => n.code));
    this.blocked = new BlockedValues(instance.settings.blockedValues);
    for (const s of schemas) this.schemasById.set(s.id, s);
    for (const d of datasets) {
      this.datasetsById.set(d.id, d);
      this.datasetsByName.set(d.name, d);
    }
  }

  private profileSchemaList?: SchemaDef[];
  private profileGroups?: ReadonlySet<string>;

  /** The profile schemas, and the field groups they declare (for real-time updates). */
  get profileSchemas(): SchemaDef[] {
    return (this.profileSchemaList ??= [...this.schemasById.values()].filter((s) => s.class === 'profile'));
  }

  get profileFieldGroups(): ReadonlySet<string> {
    return (this.profileGroups ??= new Set(this.profileSchemas.flatMap((s) => s.fieldGroups)));
  }

  get settings(): InstanceSettings {
    return this.instance.settings;
  }

  /** A dataset by id, or by name (the real-time API addresses datasets by name). */
  dataset(idOrName: string): DatasetDef | undefined {
    return this.datasetsById.get(idOrName) ?? this.datasetsByName.get(idOrName);
  }

  schemaOf(dataset: DatasetDef): SchemaDef {
    const schema = this.schemasById.get(dataset.schemaId);
    if (!schema) throw new Error(`dataset ${dataset.id} refers to missing schema ${dataset.schemaId}`);
    return schema;
  }

  validator(schema: SchemaDef): ValidateFunction {
    let v = this.validators.get(schema.id);
    if (!v) {
      v = compileRecordSchema(this.ajv, schema.jsonSchema);
      this.validators.set(schema.id, v);
    }
    return v;
  }

  /** A stored record as the merge sees it: with its dataset's rank and field groups. */
  mergeInput(f: { datasetId: string; recordKey: string; timestamp: number; record: JsonObject }): Fragment {
    const dataset = this.datasetsById.get(f.datasetId);
    return {
      datasetId: f.datasetId,
      recordKey: f.recordKey,
      datasetRank: dataset?.precedence ?? Number.MAX_SAFE_INTEGER,
      timestamp: f.timestamp,
      attributes: f.record,
      fieldGroups: (dataset && this.schemasById.get(dataset.schemaId)?.fieldGroups) ?? [],
    };
  }

  priorityOf(namespace: string): number {
    return this.namespaces.find(namespace)?.priority ?? 100;
  }
}

/** Loads and caches instance catalogs; control-plane writes call `invalidate`. */
export class Catalog {
  private readonly cache = new Map<string, Promise<InstanceCatalog | undefined>>();
  private readonly loadedAt = new Map<string, number>();
  private readonly ajv = createAjv();

  /** `maxAgeMs`: reload an instance's catalog this often (processes that do not hear another node's changes: scale-out workers and API nodes). */
  constructor(
    private readonly control: ControlStore,
    private readonly options: { maxAgeMs?: number } = {},
  ) {}

  get(instanceId: string): Promise<InstanceCatalog | undefined> {
    let entry = this.cache.get(instanceId);
    if (entry && this.options.maxAgeMs !== undefined && performance.now() - (this.loadedAt.get(instanceId) ?? 0) > this.options.maxAgeMs) entry = undefined;
    if (!entry) {
      entry = this.load(instanceId);
      this.cache.set(instanceId, entry);
      this.loadedAt.set(instanceId, performance.now());
      // Unknown instances are not remembered (any name can be asked for).
      entry.then(
        (c) => c === undefined && this.cache.delete(instanceId),
        () => this.cache.delete(instanceId),
      );
    }
    return entry;
  }

  /**
   * The instance's catalog, loaded again once when it does not know `datasetId` (a dataset made
   * on another node since it was loaded), so that a record is not given up for a stale catalog.
   */
  async withDataset(instanceId: string, datasetId: string): Promise<InstanceCatalog | undefined> {
    const c = await this.get(instanceId);
    if (!c || c.datasetsById.has(datasetId)) return c;
    this.invalidate(instanceId);
    return this.get(instanceId);
  }

  private readonly listeners: Array<(instanceId: string) => void> = [];

  /**
   * Processes that do not hear other nodes' changes: every `intervalMs`, the catalogs of instances
   * whose catalog version has moved on since they were loaded are loaded again. Returns the stop.
   */
  watch(intervalMs: number): () => void {
    const timer = setInterval(() => void this.reloadChanged().catch(() => undefined), intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  private async reloadChanged(): Promise<void> {
    if (this.cache.size === 0) return;
    for (const instance of await this.control.listInstances()) await this.reloadIfOlder(instance.id, instance.catalogVersion ?? 0);
  }

  /** Drops an instance's loaded catalog when it is older than `version` (the next `get` loads it again); one not loaded stays so. */
  async reloadIfOlder(instanceId: string, version: number): Promise<void> {
    const loaded = await this.cache.get(instanceId)?.catch(() => undefined);
    if (loaded && loaded.version < version) this.invalidate(instanceId);
  }

  invalidate(instanceId: string): void {
    this.cache.delete(instanceId);
    for (const l of this.listeners) l(instanceId);
  }

  /** Called on every invalidation (the apply worker keeps a catalog of its own). */
  onInvalidate(listener: (instanceId: string) => void): void {
    this.listeners.push(listener);
  }

  private async load(instanceId: string): Promise<InstanceCatalog | undefined> {
    const instance = await this.control.getInstance(instanceId);
    if (!instance) return undefined;
    const [namespaces, schemas, datasets, unification] = await Promise.all([
      this.control.listNamespaces(instanceId),
      this.control.listSchemas(instanceId),
      this.control.listDatasets(instanceId),
      this.control.getUnificationConfig(instanceId),
    ]);
    return new InstanceCatalog(instance, namespaces, schemas, datasets, this.ajv, unification?.merge ?? []);
  }
}

export const DEFAULT_NAMESPACES = BUILTIN_NAMESPACES;
