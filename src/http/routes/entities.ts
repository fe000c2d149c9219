import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { notFound } from '../../domain/errors.js';
import type { JsonObject } from '../../domain/json-path.js';
import { describeFields, exampleOf } from '../../domain/schema/describe.js';
import type { Tessera } from '../../runtime/tessera.js';
import { UnifiedActivityBody } from './realtime.js';

/** Entity metadata: the fields of UnifiedActivity, Customer or a dataset, with an example document. */
export const entityRoutes: FastifyPluginAsyncTypebox<{ t: Tessera }> = async (app, { t }) => {
  app.get(
    '/api/instances/:instanceId/manage/entities/:name',
    { config: { role: 'viewer' }, schema: { params: Type.Object({ instanceId: Type.String(), name: Type.String({ minLength: 1 }) }), tags: ['realtime'] } },
    async (req) => {
      const catalog = await t.profiles.catalogOf(req.params.instanceId);
      const name = req.params.name;
      let schema: JsonObject;
      let kind: string;
      if (name === 'UnifiedActivity') {
        schema = JSON.parse(JSON.stringify(UnifiedActivityBody)) as JsonObject;
        kind = 'activity';
      } else if (name === 'Customer') {
        // The unified profile: customerId plus every field any profile schema declares.
        const properties: JsonObject = { customerId: { type: 'string' } };
        for (const s of catalog.schemasById.values()) {
          if (s.class !== 'profile') continue;
          for (const [k, v] of Object.entries((s.jsonSchema['properties'] ?? {}) as JsonObject)) if (!(k in properties)) properties[k] = v;
        }
        schema = { type: 'object', required: ['customerId'], properties };
        kind = 'profile';
      } else {
        const dataset = catalog.dataset(name);
        if (!dataset) throw notFound('entity_not_found', `no entity ${name}: use UnifiedActivity, Customer or a dataset name`);
        const def = catalog.schemaOf(dataset);
        schema = def.jsonSchema;
        kind = def.class;
      }
      const example = exampleOf(schema);
      return { name, class: kind, fields: describeFields(schema), example };
    },
  );
};
