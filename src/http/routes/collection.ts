import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { invalid, notFound } from '../../domain/errors.js';
import { isObject, type JsonValue } from '../../domain/json-path.js';
import { MAX_RECORD_BYTES } from '../../pipelines/ingest/prepare-record.js';
import type { Tessera } from '../../runtime/tessera.js';

export const MAX_BATCH_MESSAGES = 10_000;

const SingleParams = Type.Object({ instanceId: Type.String(), datasetId: Type.String({ minLength: 1 }) });
const IngestQuery = Type.Object({
  syncValidation: Type.Optional(Type.Boolean()),
  caller: Type.Optional(Type.String({ maxLength: 200 })),
});

/** Streaming ingestion (Adobe-style): one message, or a batch answered per message with 207. */
export const collectionRoutes: FastifyPluginAsyncTypebox<{ t: Tessera }> = async (app, { t }) => {
  const config = { role: 'contributor' as const, ingest: true };

  app.post(
    '/api/instances/:instanceId/collection/batch',
    { config, schema: { params: Type.Object({ instanceId: Type.String() }), querystring: IngestQuery, tags: ['ingestion'] } },
    async (req, reply) => {
      const body = req.body as JsonValue;
      const messages = isObject(body) ? body['messages'] : undefined;
      if (!Array.isArray(messages)) throw invalid('invalid_batch', 'a batch body is {"messages": [ ... ]}');
      if (messages.length === 0) throw invalid('empty_batch', 'the batch has no messages');
      if (messages.length > MAX_BATCH_MESSAGES) throw invalid('batch_too_large', `a batch holds at most ${MAX_BATCH_MESSAGES} messages`);
      const catalog = await t.profiles.catalogOf(req.params.instanceId);
      const receivedAt = t.clock.now();
      const results = await t.ingest.ingest(catalog, messages, {
        receipt: { requestId: req.id, receivedAt, path: 'streaming', caller: req.query.caller ?? null },
        syncValidation: false,
        smallBody: req.jsonBytes <= MAX_RECORD_BYTES,
      });
      return reply.status(207).send({ requestId: req.id, receivedAt: new Date(receivedAt).toISOString(), results });
    },
  );

  app.post(
    '/api/instances/:instanceId/collection/:datasetId',
    { config, schema: { params: SingleParams, querystring: IngestQuery, tags: ['ingestion'] } },
    async (req, reply) => {
      const catalog = await t.profiles.catalogOf(req.params.instanceId);
      if (!catalog.dataset(req.params.datasetId)) throw notFound('dataset_not_found', `dataset ${req.params.datasetId} does not exist in this instance`);
      const receivedAt = t.clock.now();
      const [result] = await t.ingest.ingest(catalog, [req.body as JsonValue], {
        receipt: { requestId: req.id, receivedAt, path: 'streaming', caller: req.query.caller ?? null },
        datasetFromPath: req.params.datasetId,
        syncValidation: req.query.syncValidation === true,
        smallBody: req.jsonBytes <= MAX_RECORD_BYTES,
      });
      if (result!.error) {
        return reply.status(result!.status).send({ ...result!.error, requestId: req.id });
      }
      return reply.status(200).send({
        requestId: req.id,
        recordId: result!.recordId,
        datasetId: result!.datasetId,
        receivedAt: new Date(receivedAt).toISOString(),
        validation: req.query.syncValidation === true ? 'passed' : 'deferred',
      });
    },
  );
};
