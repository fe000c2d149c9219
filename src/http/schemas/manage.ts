import { Type } from 'typebox';

export const RoleSchema = Type.Union([Type.Literal('admin'), Type.Literal('contributor'), Type.Literal('viewer')]);

export const CreateKeyBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200 }),
  role: RoleSchema,
});

export const NamespaceBody = Type.Object({
  code: Type.String({ minLength: 1, maxLength: 64 }),
  name: Type.Optional(Type.String({ maxLength: 200 })),
  normalizer: Type.Optional(Type.Union([Type.Literal('email'), Type.Literal('phone'), Type.Literal('trim'), Type.Literal('lowercase')])),
  priority: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  unique: Type.Optional(Type.Boolean()),
  aliases: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 20 })),
});

export const IdentityDescriptorSchema = Type.Object({
  path: Type.String({ minLength: 1, maxLength: 500 }),
  namespace: Type.String({ minLength: 1, maxLength: 64 }),
  primary: Type.Boolean({ default: false }),
});

export const CreateSchemaBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200 }),
  class: Type.Union([Type.Literal('profile'), Type.Literal('activity')]),
  jsonSchema: Type.Record(Type.String(), Type.Unknown()),
  identities: Type.Optional(Type.Array(IdentityDescriptorSchema, { maxItems: 50 })),
  fieldGroups: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 500 }), { maxItems: 100 })),
  idField: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
  timestampField: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
});

/** File column → schema field, for batch imports (a dataset's stored one, or a batch's own). */
export const ColumnMapping = Type.Record(Type.String({ minLength: 1, maxLength: 500 }), Type.String({ minLength: 1, maxLength: 500 }), {
  maxProperties: 1000,
  description: 'file column → schema field (dotted path); a batch\'s own mapping is laid over the dataset\'s',
});

export const CreateDatasetBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_.-]+$' }),
  schemaId: Type.String({ minLength: 1 }),
  enabledForProfile: Type.Optional(Type.Boolean()),
  enabledForIdentity: Type.Optional(Type.Boolean()),
  precedence: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  retentionDays: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 36_500 }), Type.Null()], { description: 'days the lake keeps this dataset\'s records; null keeps them for ever' })),
  columnMapping: Type.Optional(ColumnMapping),
});

export const UpdateDatasetBody = Type.Object(
  {
    enabledForProfile: Type.Optional(Type.Boolean()),
    enabledForIdentity: Type.Optional(Type.Boolean()),
    precedence: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
    retentionDays: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 36_500 }), Type.Null()])),
    columnMapping: Type.Optional(ColumnMapping),
  },
  { additionalProperties: false },
);

export const SettingsPatch = Type.Object(
  {
    mergePolicy: Type.Optional(Type.Union([Type.Literal('timestampOrdered'), Type.Literal('datasetPrecedence')])),
    defaultPhoneRegion: Type.Optional(Type.String({ pattern: '^[A-Z]{2}$' })),
    blockedValues: Type.Optional(Type.Array(Type.String({ maxLength: 200 }), { maxItems: 1000 })),
    maxIdentitiesPerGraph: Type.Optional(Type.Integer({ minimum: 2, maximum: 10_000 })),
    realtimeSegmentEvaluation: Type.Optional(Type.Boolean()),
    rateLimits: Type.Optional(
      Type.Object(
        {
          requestsPerSecond: Type.Number({ minimum: 0.001 }),
          messagesPerSecond: Type.Number({ minimum: 0.001 }),
          syncValidationPerMinute: Type.Number({ minimum: 0.001 }),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
