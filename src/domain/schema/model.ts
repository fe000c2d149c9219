import type { RateLimits } from '../limits/token-bucket.js';
import type { JsonObject } from '../json-path.js';

export type SchemaClass = 'profile' | 'activity';

export interface IdentityDescriptor {
  /** Dotted path of the field that holds the identity value. */
  path: string;
  namespace: string;
  primary: boolean;
}

export interface SchemaDef {
  instanceId: string;
  id: string;
  name: string;
  class: SchemaClass;
  jsonSchema: JsonObject;
  identities: IdentityDescriptor[];
  /** Object paths taken whole from one source when merging (e.g. an address). */
  fieldGroups: string[];
  /** Activity schemas: the field holding the activity id and the one holding its time. */
  idField: string;
  timestampField: string;
  version: number;
  createdAt: number;
}

export interface DatasetDef {
  instanceId: string;
  id: string;
  name: string;
  schemaId: string;
  enabledForProfile: boolean;
  enabledForIdentity: boolean;
  /** Lower ranks win under the datasetPrecedence merge policy. */
  precedence: number;
  /** Days the lake keeps this dataset's records (null: for ever). Older lake partitions are deleted. */
  retentionDays: number | null;
  /** File column → schema field (dotted path) for batch imports into this dataset; a batch's own mapping is laid over it. */
  columnMapping: Record<string, string>;
  createdAt: number;
}

export type MergePolicyName = 'timestampOrdered' | 'datasetPrecedence';

export interface InstanceSettings {
  mergePolicy: MergePolicyName;
  defaultPhoneRegion: string;
  blockedValues: string[];
  maxIdentitiesPerGraph: number;
  /** Off by default, as in Dynamics: real-time changes do not move segments. */
  realtimeSegmentEvaluation: boolean;
  /** Ingestion limits per instance (absent in settings stored before they existed: the defaults). */
  rateLimits?: RateLimits;
}
