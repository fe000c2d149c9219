import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { invalid } from '../../domain/errors.js';
import type { Tessera } from '../../runtime/tessera.js';
import { InstanceParams } from '../schemas/common.js';

const ProfileParams = Type.Object({ instanceId: Type.String(), customerId: Type.String({ minLength: 1, maxLength: 200 }) });
const MergePolicyQuery = Type.Object({
  mergePolicy: Type.Optional(Type.Union([Type.Literal('timestampOrdered'), Type.Literal('datasetPrecedence')])),
});

const MAX_DATE_MS = 8.64e15;

export function parseTime(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const t = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  // Epoch milliseconds past a date's range (±8.64e15) name no time, and no column holds them.
  if (Number.isNaN(t) || t > MAX_DATE_MS) throw invalid('invalid_time', `${name} must be RFC 3339 or epoch milliseconds (at most ${MAX_DATE_MS})`);
  return t;
}

/** Unified profiles: by id, by identity, with identities, fragments, timeline and merge history. */
export const profileRoutes: FastifyPluginAsyncTypebox<{ t: Tessera }> = async (app, { t }) => {
  const base = '/api/instances/:instanceId/profiles';
  const config = { role: 'viewer' as const };

  app.get(
    base,
    {
      config,
      schema: {
        params: InstanceParams,
        querystring: Type.Intersect([
          Type.Object({
            identity: Type.Optional(Type.String({ minLength: 3, maxLength: 1000, description: 'namespace:value; without it, a page of customer ids' })),
            after: Type.Optional(Type.String({ maxLength: 200 })),
            limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
          }),
          MergePolicyQuery,
        ]),
        tags: ['profiles'],
      },
    },
    async (req) => {
      if (req.query.identity === undefined) {
        const ids = await t.reader.listCustomerIds(req.params.instanceId, req.query.after ?? '', req.query.limit);
        return { customerIds: ids, next: ids.length === req.query.limit ? ids[ids.length - 1] : null };
      }
      return t.profiles.profileByIdentity(req.params.instanceId, req.query.identity, req.query.mergePolicy);
    },
  );

  app.get(`${base}/:customerId`, { config, schema: { params: ProfileParams, querystring: MergePolicyQuery, tags: ['profiles'] } }, async (req) =>
    t.profiles.profile(req.params.instanceId, req.params.customerId, req.query.mergePolicy),
  );

  app.get(`${base}/:customerId/identities`, { config, schema: { params: ProfileParams, tags: ['profiles'] } }, async (req) =>
    t.profiles.identities(req.params.instanceId, req.params.customerId),
  );

  app.get(`${base}/:customerId/fragments`, { config, schema: { params: ProfileParams, tags: ['profiles'] } }, async (req) =>
    t.profiles.fragments(req.params.instanceId, req.params.customerId),
  );

  app.get(`${base}/:customerId/merges`, { config, schema: { params: ProfileParams, tags: ['profiles'] } }, async (req) =>
    t.profiles.merges(req.params.instanceId, req.params.customerId),
  );

  app.get(
    `${base}/:customerId/timeline`,
    {
      config,
      schema: {
        params: ProfileParams,
        querystring: Type.Object({
          limit: Type.Integer({ minimum: 1, maximum: 1000, default: 50 }),
          cursor: Type.Optional(Type.String({ maxLength: 500 })),
          type: Type.Optional(Type.String({ maxLength: 1000 })),
          from: Type.Optional(Type.String()),
          to: Type.Optional(Type.String()),
          order: Type.Optional(Type.Union([Type.Literal('asc'), Type.Literal('desc')])),
        }),
        tags: ['profiles'],
      },
    },
    async (req) => {
      const q = req.query;
      const from = parseTime(q.from, 'from');
      const to = parseTime(q.to, 'to');
      return t.profiles.timeline(req.params.instanceId, req.params.customerId, {
        limit: q.limit,
        ...(q.cursor ? { cursor: q.cursor } : {}),
        ...(q.type ? { types: q.type.split(',').map((s) => s.trim()).filter((s) => s !== '') } : {}),
        ...(from !== undefined ? { from } : {}),
        ...(to !== undefined ? { to } : {}),
        ...(q.order ? { order: q.order } : {}),
      });
    },
  );
};

/** The key ring: a profile found by a source record's key, with every identity and source key it holds. */
export const keyringRoutes: FastifyPluginAsyncTypebox<{ t: Tessera }> = async (app, { t }) => {
  app.get(
    '/api/instances/:instanceId/profile/keyring',
    {
      config: { role: 'viewer' },
      schema: {
        params: InstanceParams,
        querystring: Type.Object({
          dataSourceName: Type.Optional(Type.String({ minLength: 1 })),
          entityName: Type.Optional(Type.String({ minLength: 1 })),
          key: Type.String({ minLength: 1 }),
        }),
        tags: ['profiles'],
      },
    },
    async (req) => t.profiles.keyRing(req.params.instanceId, req.query.entityName ?? req.query.dataSourceName, req.query.key),
  );
};
