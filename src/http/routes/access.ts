import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { invalid, notFound } from '../../domain/errors.js';
import type { Tessera } from '../../runtime/tessera.js';
import { InstanceParams } from '../schemas/common.js';
import { parseTime } from './profiles.js';

const PROFILE = '_xdm.context.profile';
const EVENT = '_xdm.context.experienceevent';

const AccessQuery = Type.Object({
  'schema.name': Type.String(),
  entityId: Type.Optional(Type.String()),
  entityIdNS: Type.Optional(Type.String()),
  'relatedSchema.name': Type.Optional(Type.String()),
  relatedEntityId: Type.Optional(Type.String()),
  relatedEntityIdNS: Type.Optional(Type.String()),
  mergePolicyId: Type.Optional(Type.Union([Type.Literal('timestampOrdered'), Type.Literal('datasetPrecedence')])),
  startTime: Type.Optional(Type.String()),
  endTime: Type.Optional(Type.String()),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
  orderby: Type.Optional(Type.String()),
});

/** Adobe-style `GET /access/entities`: a profile by identity, or its experience events. */
export const accessRoutes: FastifyPluginAsyncTypebox<{ t: Tessera }> = async (app, { t }) => {
  app.get(
    '/api/instances/:instanceId/access/entities',
    { config: { role: 'viewer' }, schema: { params: InstanceParams, querystring: AccessQuery, tags: ['profiles'] } },
    async (req) => {
      const q = req.query;
      const instanceId = req.params.instanceId;
      const schemaName = q['schema.name'];
      const resolve = async (id: string | undefined, ns: string | undefined): Promise<string> => {
        if (!id) throw invalid('entity_id_required', 'entityId (or relatedEntityId) is required');
        const customerId = ns ? await t.profiles.findByIdentity(instanceId, `${ns}:${id}`) : await t.reader.resolveCustomerId(instanceId, id);
        if (!customerId) throw notFound('profile_not_found', `no profile for ${ns ? `${ns}:` : ''}${id}`);
        return customerId;
      };
      if (schemaName === PROFILE) {
        const customerId = await resolve(q.entityId, q.entityIdNS);
        const doc = await t.profiles.profile(instanceId, customerId, q.mergePolicyId);
        const fragments = await t.profiles.fragments(instanceId, doc.customerId);
        return {
          [doc.customerId]: {
            entityId: doc.customerId,
            sources: [...new Set(fragments.fragments.map((f) => f.datasetId))],
            entity: {
              ...doc.attributes,
              identityMap: Object.fromEntries(
                [...new Set(doc.identities.map((i) => i.namespace))].map((ns) => [ns, doc.identities.filter((i) => i.namespace === ns).map((i) => ({ id: i.value }))]),
              ),
            },
            lastModifiedAt: doc.updatedAt,
          },
        };
      }
      if (schemaName === EVENT) {
        if (q['relatedSchema.name'] !== undefined && q['relatedSchema.name'] !== PROFILE) {
          throw invalid('unsupported_related_schema', `relatedSchema.name must be ${PROFILE}`);
        }
        const customerId = await resolve(q.relatedEntityId ?? q.entityId, q.relatedEntityIdNS ?? q.entityIdNS);
        const order = q.orderby?.startsWith('+') || q.orderby === 'timestamp' ? 'asc' : 'desc';
        const from = parseTime(q.startTime, 'startTime');
        const to = parseTime(q.endTime, 'endTime');
        const page = await t.profiles.timeline(instanceId, customerId, {
          limit: q.limit,
          order,
          ...(from !== undefined ? { from } : {}),
          ...(to !== undefined ? { to } : {}),
        });
        return {
          _page: { orderby: order === 'asc' ? 'timestamp' : '-timestamp', count: page.items.length, next: page.nextCursor ?? '' },
          children: page.items.map((a) => ({ relatedEntityId: customerId, entityId: a.activityId, timestamp: Date.parse(a.timestamp), entity: a.record })),
        };
      }
      throw invalid('unsupported_schema', `schema.name must be ${PROFILE} or ${EVENT}`);
    },
  );
};
