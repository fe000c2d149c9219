import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { invalid } from '../../domain/errors.js';
import type { JsonValue } from '../../domain/json-path.js';
import type { Tessera } from '../../runtime/tessera.js';
import type { RealtimeOptions } from '../../services/realtime.js';

export const RealtimeQuery = Type.Object({
  validUntil: Type.Optional(Type.String({ description: 'RFC 3339; default now + 4 h for profile updates, now + 30 d for activities; at most 30 days ahead' })),
  caller: Type.Optional(Type.String({ maxLength: 200, description: 'who is calling, recorded for telemetry' })),
});

export const UnifiedActivityBody = Type.Object(
  {
    ActivityId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    CustomerId: Type.String({ minLength: 1, maxLength: 200 }),
    ActivityTime: Type.String({ format: 'date-time' }),
    ActivityType: Type.String({ minLength: 1, maxLength: 200 }),
    ActivityTypeDisplay: Type.Optional(Type.String({ maxLength: 500 })),
    SourceTableName: Type.Optional(Type.String({ maxLength: 200 })),
    SourceActivityId: Type.Optional(Type.String({ maxLength: 200 })),
    Title: Type.Optional(Type.String({ maxLength: 1000 })),
    Description: Type.Optional(Type.String({ maxLength: 10000 })),
    URL: Type.Optional(Type.String({ maxLength: 2000 })),
    SemanticData: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);

const options = (q: { validUntil?: string; caller?: string }, requestId: string): RealtimeOptions => {
  let validUntil: number | undefined;
  if (q.validUntil !== undefined) {
    validUntil = Date.parse(q.validUntil);
    if (Number.isNaN(validUntil) || !/^\d{4}-\d{2}-\d{2}T/.test(q.validUntil)) throw invalid('invalid_valid_until', 'validUntil must be an RFC 3339 time, e.g. 2026-01-01T12:00:00Z');
  }
  return { ...(validUntil !== undefined ? { validUntil } : {}), caller: q.caller ?? null, requestId };
};

/** The real-time API (Dynamics-style): profile field updates and activities that expire. */
export const realtimeRoutes: FastifyPluginAsyncTypebox<{ t: Tessera }> = async (app, { t }) => {
  const base = '/api/instances/:instanceId/data';
  const config = { role: 'contributor' as const, ingest: true };

  app.patch(
    `${base}/Customer/:customerId`,
    { config, schema: { params: Type.Object({ instanceId: Type.String(), customerId: Type.String({ minLength: 1, maxLength: 200 }) }), querystring: RealtimeQuery, tags: ['realtime'] } },
    async (req, reply) => {
      await t.realtime.updateCustomer(req.params.instanceId, req.params.customerId, req.body as JsonValue, options(req.query, req.id));
      return reply.status(204).send();
    },
  );

  app.post(
    `${base}/UnifiedActivity`,
    { config, schema: { params: Type.Object({ instanceId: Type.String() }), querystring: RealtimeQuery, body: UnifiedActivityBody, tags: ['realtime'] } },
    async (req, reply) => {
      const result = await t.realtime.createUnifiedActivity(req.params.instanceId, req.body, options(req.query, req.id));
      return reply.status(result.created ? 201 : 200).send(result.activity);
    },
  );

  app.post(
    `${base}/:datasetName`,
    { config, schema: { params: Type.Object({ instanceId: Type.String(), datasetName: Type.String({ minLength: 1 }) }), querystring: RealtimeQuery, tags: ['realtime'] } },
    async (req, reply) => {
      const result = await t.realtime.createDatasetActivity(req.params.instanceId, req.params.datasetName, req.body as JsonValue, options(req.query, req.id));
      return reply.status(result.created ? 201 : 200).send(result.activity);
    },
  );
};
