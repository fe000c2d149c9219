import { Type } from 'typebox';
import { iso } from '../../domain/clock.js';
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Readable } from 'node:stream';
import type { Batch } from '../../ports/batch-store.js';
import type { Tessera } from '../../runtime/tessera.js';
import { InstanceParams, Paging } from '../schemas/common.js';
import { ColumnMapping } from '../schemas/manage.js';
import { refuseNulInBody } from '../nul-in-body.js';


export const batchView = (b: Batch) => ({
  id: b.id,
  datasetId: b.datasetId,
  format: b.format,
  status: b.status,
  errorThreshold: b.errorThreshold,
  mapping: b.options.mapping,
  csv: b.options.csv,
  files: b.files,
  counts: { rowsRead: b.rowsRead, rowsApplied: b.rowsApplied, rowsFailed: b.rowsFailed },
  message: b.message,
  createdAt: iso(b.createdAt),
  completedAt: iso(b.completedAt),
  timings: {
    startedAt: iso(b.startedAt),
    finishedAt: iso(b.finishedAt),
    processingMs: b.startedAt !== null && b.finishedAt !== null ? b.finishedAt - b.startedAt : null,
  },
});

const CreateBatchBody = Type.Object({
  datasetId: Type.String({ minLength: 1, description: 'dataset id or name' }),
  format: Type.Union([Type.Literal('csv'), Type.Literal('ndjson'), Type.Literal('json'), Type.Literal('parquet')]),
  errorThreshold: Type.Optional(Type.Number({ minimum: 0, maximum: 100, description: 'percent of failed rows above which the batch fails whole (default 5)' })),
  mapping: Type.Optional(ColumnMapping),
  csv: Type.Optional(
    Type.Object({
      delimiter: Type.Optional(Type.String({ minLength: 1, maxLength: 1 })),
      quote: Type.Optional(Type.String({ minLength: 1, maxLength: 1 })),
      trim: Type.Optional(Type.Boolean()),
    }),
  ),
});
const BatchParams = Type.Object({ instanceId: Type.String(), batchId: Type.String() });

/** Batch ingestion (Adobe-style): create, upload files as streams, complete, follow, read errors. */
export const batchRoutes: FastifyPluginAsyncTypebox<{ t: Tessera }> = async (app, { t }) => {
  app.addHook('preHandler', refuseNulInBody);
  const base = '/api/instances/:instanceId/batches';
  const write = { role: 'contributor' as const };
  const read = { role: 'viewer' as const };

  app.post(base, { config: write, schema: { params: InstanceParams, body: CreateBatchBody, querystring: Type.Object({ caller: Type.Optional(Type.String({ maxLength: 200 })) }), tags: ['batches'] } }, async (req, reply) => {
    const b = await t.batches.create(req.params.instanceId, {
      ...req.body,
      caller: req.query.caller ?? null,
      ...(req.body.csv ? { csv: Object.fromEntries(Object.entries(req.body.csv).filter(([, v]) => v !== undefined)) } : {}),
    });
    return reply.status(201).send(batchView(b));
  });

  app.get(base, { config: read, schema: { params: InstanceParams, querystring: Type.Object({ datasetId: Type.Optional(Type.String()), limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }) }), tags: ['batches'] } }, async (req) => {
    const catalog = await t.profiles.catalogOf(req.params.instanceId);
    const datasetId = req.query.datasetId === undefined ? undefined : (catalog.dataset(req.query.datasetId)?.id ?? req.query.datasetId);
    return { batches: (await t.batches.list(req.params.instanceId, datasetId, req.query.limit)).map(batchView) };
  });

  // Uploads are passed on as streams, whatever their type (a JSON file sent as application/json
  // too, which is not parsed here): they are written to disk as they come.
  await app.register(async (uploads) => {
    uploads.removeAllContentTypeParsers();
    uploads.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
    uploads.withTypeProvider<TypeBoxTypeProvider>().put(
      `${base}/:batchId/files/:fileName`,
      { config: write, bodyLimit: Number.MAX_SAFE_INTEGER, schema: { params: Type.Object({ instanceId: Type.String(), batchId: Type.String(), fileName: Type.String() }), tags: ['batches'] } },
      async (req) => batchView(await t.batches.upload(req.params.instanceId, req.params.batchId, req.params.fileName, req.body as Readable)),
    );
  });

  app.post(`${base}/:batchId/complete`, { config: write, schema: { params: BatchParams, tags: ['batches'] } }, async (req, reply) => {
    return reply.status(202).send(batchView(await t.batches.complete(req.params.instanceId, req.params.batchId)));
  });

  app.get(`${base}/:batchId`, { config: read, schema: { params: BatchParams, tags: ['batches'] } }, async (req) => batchView(await t.batches.get(req.params.instanceId, req.params.batchId)));

  app.get(`${base}/:batchId/errors`, { config: read, schema: { params: BatchParams, querystring: Paging, tags: ['batches'] } }, async (req) => {
    const b = await t.batches.get(req.params.instanceId, req.params.batchId);
    return { batchId: b.id, rowsFailed: b.rowsFailed, errors: await t.batches.errors(req.params.instanceId, b.id, req.query.limit, req.query.offset) };
  });
};
