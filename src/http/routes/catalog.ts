import { Type } from 'typebox';
import { iso } from '../../domain/clock.js';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { DatasetDef, SchemaDef } from '../../domain/schema/model.js';
import type { JsonObject } from '../../domain/json-path.js';
import type { Tessera } from '../../runtime/tessera.js';
import { InstanceParams, Paging } from '../schemas/common.js';
import { CreateDatasetBody, CreateSchemaBody, NamespaceBody, SettingsPatch, UpdateDatasetBody } from '../schemas/manage.js';
import { refuseNulInBody } from '../nul-in-body.js';


const schemaView = (s: SchemaDef) => ({
  id: s.id,
  name: s.name,
  class: s.class,
  jsonSchema: s.jsonSchema,
  identities: s.identities,
  fieldGroups: s.fieldGroups,
  idField: s.idField,
  timestampField: s.timestampField,
  version: s.version,
  createdAt: iso(s.createdAt),
});

const datasetView = (d: DatasetDef) => ({
  id: d.id,
  name: d.name,
  schemaId: d.schemaId,
  enabledForProfile: d.enabledForProfile,
  enabledForIdentity: d.enabledForIdentity,
  precedence: d.precedence,
  retentionDays: d.retentionDays,
  columnMapping: d.columnMapping,
  createdAt: iso(d.createdAt),
});

const ItemParams = Type.Object({ instanceId: Type.String(), id: Type.String() });

/** Namespaces, schemas, datasets (with their failed records) and instance settings. */
export const catalogRoutes: FastifyPluginAsyncTypebox<{ t: Tessera }> = async (app, { t }) => {
  app.addHook('preHandler', refuseNulInBody);
  const base = '/api/instances/:instanceId/manage';
  const read = { role: 'viewer' as const };
  const write = { role: 'contributor' as const };

  app.get(`${base}/namespaces`, { config: read, schema: { params: InstanceParams, tags: ['namespaces'] } }, async (req) => ({
    namespaces: await t.admin.listNamespaces(req.params.instanceId),
  }));

  app.post(`${base}/namespaces`, { config: write, schema: { params: InstanceParams, body: NamespaceBody, tags: ['namespaces'] } }, async (req, reply) => {
    return reply.status(201).send(await t.admin.upsertNamespace(req.params.instanceId, req.body));
  });

  app.get(`${base}/schemas`, { config: read, schema: { params: InstanceParams, tags: ['schemas'] } }, async (req) => ({
    schemas: (await t.admin.listSchemas(req.params.instanceId)).map(schemaView),
  }));

  app.post(`${base}/schemas`, { config: write, schema: { params: InstanceParams, body: CreateSchemaBody, tags: ['schemas'] } }, async (req, reply) => {
    const body = req.body;
    const schema = await t.admin.createSchema(req.params.instanceId, {
      name: body.name,
      class: body.class,
      jsonSchema: body.jsonSchema as JsonObject,
      ...(body.identities ? { identities: body.identities } : {}),
      ...(body.fieldGroups ? { fieldGroups: body.fieldGroups } : {}),
      ...(body.idField ? { idField: body.idField } : {}),
      ...(body.timestampField ? { timestampField: body.timestampField } : {}),
    });
    return reply.status(201).send(schemaView(schema));
  });

  app.get(`${base}/schemas/:id`, { config: read, schema: { params: ItemParams, tags: ['schemas'] } }, async (req) =>
    schemaView(await t.admin.getSchema(req.params.instanceId, req.params.id)),
  );

  app.get(`${base}/datasets`, { config: read, schema: { params: InstanceParams, tags: ['datasets'] } }, async (req) => ({
    datasets: (await t.admin.listDatasets(req.params.instanceId)).map(datasetView),
  }));

  app.post(`${base}/datasets`, { config: write, schema: { params: InstanceParams, body: CreateDatasetBody, tags: ['datasets'] } }, async (req, reply) => {
    return reply.status(201).send(datasetView(await t.admin.createDataset(req.params.instanceId, req.body)));
  });

  app.get(`${base}/datasets/:id`, { config: read, schema: { params: ItemParams, tags: ['datasets'] } }, async (req) =>
    datasetView(await t.admin.getDataset(req.params.instanceId, req.params.id)),
  );

  app.patch(`${base}/datasets/:id`, { config: write, schema: { params: ItemParams, body: UpdateDatasetBody, tags: ['datasets'] } }, async (req) =>
    datasetView(await t.admin.updateDataset(req.params.instanceId, req.params.id, req.body)),
  );

  app.get(`${base}/datasets/:id/failed`, { config: read, schema: { params: ItemParams, querystring: Paging, tags: ['datasets'] } }, async (req) => {
    const dataset = await t.admin.getDataset(req.params.instanceId, req.params.id);
    const records = await t.reader.failedRecords(req.params.instanceId, dataset.id, req.query.limit, req.query.offset);
    return {
      datasetId: dataset.id,
      failed: records.map((f) => ({ id: f.id, requestId: f.requestId, receivedAt: iso(f.receivedAt), record: f.record, errors: f.errors })),
    };
  });

  app.get(`${base}/settings`, { config: read, schema: { params: InstanceParams, tags: ['settings'] } }, async (req) => t.admin.getSettings(req.params.instanceId));

  app.patch(`${base}/settings`, { config: { role: 'admin' }, schema: { params: InstanceParams, body: SettingsPatch, tags: ['settings'] } }, async (req) =>
    t.admin.updateSettings(req.params.instanceId, req.body),
  );

  app.get(`${base}/identity-warnings`, { config: read, schema: { params: InstanceParams, querystring: Paging, tags: ['identity'] } }, async (req) => {
    const warnings = await t.reader.warnings(req.params.instanceId, req.query.limit, req.query.offset);
    return { warnings: warnings.map((w) => ({ ...w, at: iso(w.at) })) };
  });
};
