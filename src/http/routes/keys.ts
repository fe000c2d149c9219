import { Type } from 'typebox';
import { iso } from '../../domain/clock.js';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiKeyRecord } from '../../ports/control-store.js';
import type { Tessera } from '../../runtime/tessera.js';
import { InstanceParams } from '../schemas/common.js';
import { CreateKeyBody } from '../schemas/manage.js';
import { refuseNulInBody } from '../nul-in-body.js';

const KeyParams = Type.Object({ instanceId: Type.String(), keyId: Type.String() });

export const keyView = (k: ApiKeyRecord) => ({
  id: k.id,
  name: k.name,
  role: k.role,
  createdAt: iso(k.createdAt),
  rotatedAt: iso(k.rotatedAt),
  revokedAt: iso(k.revokedAt),
  secondaryActive: k.hasSecondary,
});

/** API keys of an instance: admin only. */
export const keyRoutes: FastifyPluginAsyncTypebox<{ t: Tessera }> = async (app, { t }) => {
  app.addHook('preHandler', refuseNulInBody);
  const base = '/api/instances/:instanceId/manage/keys';
  const config = { role: 'admin' as const };

  app.get(base, { config, schema: { params: InstanceParams, tags: ['keys'] } }, async (req) => {
    return { keys: (await t.keys.list(req.params.instanceId)).map(keyView) };
  });

  app.post(base, { config, schema: { params: InstanceParams, body: CreateKeyBody, tags: ['keys'] } }, async (req, reply) => {
    const issued = await t.keys.create(req.params.instanceId, req.body.name, req.body.role);
    return reply.status(201).send({ ...keyView(issued.key), key: issued.secret });
  });

  app.get(`${base}/:keyId`, { config, schema: { params: KeyParams, tags: ['keys'] } }, async (req) => {
    return keyView(await t.keys.get(req.params.instanceId, req.params.keyId));
  });

  app.post(`${base}/:keyId/rotate`, { config, schema: { params: KeyParams, tags: ['keys'] } }, async (req) => {
    const issued = await t.keys.rotate(req.params.instanceId, req.params.keyId);
    return { ...keyView(issued.key), key: issued.secret };
  });

  app.post(`${base}/:keyId/expire-secondary`, { config, schema: { params: KeyParams, tags: ['keys'] } }, async (req) => {
    return keyView(await t.keys.expireSecondary(req.params.instanceId, req.params.keyId));
  });

  app.delete(`${base}/:keyId`, { config, schema: { params: KeyParams, tags: ['keys'] } }, async (req) => {
    return keyView(await t.keys.revoke(req.params.instanceId, req.params.keyId));
  });
};
