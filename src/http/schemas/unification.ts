import { Type, type Static } from 'typebox';
import { BLOCKING_TRANSFORMS, COMPARISON_KINDS, MERGE_FIELD_POLICIES, WINNER_RULES, type UnificationConfig } from '../../domain/unify/config.js';
import { NORMALIZER_NAMES } from '../../domain/unify/normalizers.js';
import { PRECISIONS, SIMILARITY_NAMES } from '../../domain/unify/similarity.js';

/**
 * One of a list of strings. Typed as `T` explicitly: a union of literals made from a mapped
 * array (not a tuple) has the static type `never`, which let any value through to the client's
 * types and made the shape check at the end of this file vacuous for these fields. The JSON
 * Schema is the same union of constants.
 */
const oneOf = <T extends string>(values: readonly T[], description?: string) =>
  Type.Unsafe<T>(Type.Union(values.map((v) => Type.Literal(v)), description ? { description } : {}));

const Normalizers = Type.Array(oneOf(NORMALIZER_NAMES), { description: 'applied in order before comparing' });
const FieldName = Type.String({ minLength: 1, maxLength: 200 });

const Condition = Type.Object(
  {
    field: FieldName,
    normalizers: Type.Optional(Normalizers),
    similarity: Type.Optional(oneOf(SIMILARITY_NAMES, 'default jaroWinkler')),
    precision: Type.Optional(oneOf(PRECISIONS, 'exact (100%), high (80%), medium (60%), low (30%) or custom (threshold); default exact')),
    threshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  },
  { additionalProperties: false },
);
const Rule = Type.Object({ name: Type.Optional(Type.String({ maxLength: 200 })), conditions: Type.Array(Condition, { minItems: 1, maxItems: 20 }) }, { additionalProperties: false });
const Rules = Type.Array(Rule, { maxItems: 50 });

const BlockingKey = Type.Object(
  {
    name: Type.Optional(Type.String({ maxLength: 200 })),
    parts: Type.Array(
      Type.Object(
        {
          field: FieldName,
          normalizers: Type.Optional(Normalizers),
          transform: Type.Optional(oneOf(BLOCKING_TRANSFORMS)),
          length: Type.Optional(Type.Integer({ minimum: 1, maximum: 50 })),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 5 },
    ),
  },
  { additionalProperties: false },
);
const RecordRef = Type.String({ minLength: 3, maxLength: 500, description: 'dataset/recordKey' });

export const UnificationBody = Type.Object(
  {
    mode: oneOf(['rules', 'probabilistic'] as const),
    datasets: Type.Array(
      Type.Object(
        {
          dataset: Type.String({ minLength: 1, description: 'dataset name; the order of the list is the match order' }),
          fields: Type.Optional(Type.Record(Type.String(), Type.String({ minLength: 1 }), { description: 'canonical field → path in this dataset\'s records' })),
          dedupRules: Type.Optional(Rules),
          winner: Type.Optional(oneOf(WINNER_RULES, 'which duplicate the profile takes; default mostFilled')),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, maxItems: 50 },
    ),
    pairs: Type.Optional(
      Type.Array(Type.Object({ datasets: Type.Array(Type.String({ minLength: 1 }), { minItems: 2, maxItems: 2, description: 'the two datasets (names)' }), rules: Rules }, { additionalProperties: false }), { maxItems: 200 }),
    ),
    blocking: Type.Optional(Type.Array(BlockingKey, { maxItems: 20 })),
    probabilistic: Type.Optional(
      Type.Object(
        {
          comparisons: Type.Array(
            Type.Object(
              { field: FieldName, kind: oneOf(COMPARISON_KINDS), normalizers: Type.Optional(Normalizers), termFrequency: Type.Optional(Type.Boolean()) },
              { additionalProperties: false },
            ),
            { minItems: 1, maxItems: 30 },
          ),
          threshold: Type.Optional(Type.Number({ minimum: 0.000001, maximum: 1, description: 'match probability; default 0.9' })),
          uSamplePairs: Type.Optional(Type.Integer({ minimum: 1000, maximum: 10_000_000 })),
          maxIterations: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
        },
        { additionalProperties: false },
      ),
    ),
    alwaysMatch: Type.Optional(Type.Array(Type.Array(RecordRef, { minItems: 2, maxItems: 2 }), { maxItems: 10_000 })),
    neverMatch: Type.Optional(Type.Array(Type.Array(RecordRef, { minItems: 2, maxItems: 2 }), { maxItems: 10_000 })),
    nameAliases: Type.Optional(Type.Record(Type.String(), Type.String())),
    merge: Type.Optional(Type.Array(Type.Object({ path: Type.String({ minLength: 1 }), policy: oneOf(MERGE_FIELD_POLICIES) }, { additionalProperties: false }))),
    enrichment: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 20 })),
    maxBlockSize: Type.Optional(Type.Integer({ minimum: 2, maximum: 100_000 })),
    schedule: Type.Optional(Type.Object({ cron: Type.String({ minLength: 1, maxLength: 100 }), timezone: Type.Optional(Type.String({ maxLength: 100 })) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);

// The HTTP schema and the domain type describe the same document.
const sameShape: (body: Static<typeof UnificationBody>) => UnificationConfig = (body) => body;
void sameShape;
