import { Type } from 'typebox';
import { iso } from '../../domain/clock.js';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { TesseraError } from '../../domain/errors.js';
import { isObject, type JsonObject } from '../../domain/json-path.js';
import { SHORT_FORMS, SEGMENT_TYPES, type SegmentType } from '../../pipelines/ingest/segment-message.js';
import type { Tessera } from '../../runtime/tessera.js';
import type { WriteKey } from '../../ports/write-key-store.js';
import { InstanceParams } from '../schemas/common.js';
import { decodeRequestBody } from '../request-encoding.js';

const MAX_INFLATED = 1024 * 1024;

const writeKeyView = (k: WriteKey) => ({
  id: k.id,
  name: k.name,
  profileDatasetId: k.profileDatasetId,
  eventDatasetId: k.eventDatasetId,
  createdAt: iso(k.createdAt),
  revokedAt: iso(k.revokedAt),
});

/** Write keys for the tracking API, per instance (contributor). */
export const writeKeyRoutes: FastifyPluginAsyncTypebox<{ t: Tessera }> = async (app, { t }) => {
  const base = '/api/instances/:instanceId/manage/write-keys';
  const config = { role: 'contributor' as const };
  app.get(base, { config, schema: { params: InstanceParams, tags: ['tracking'] } }, async (req) => ({ writeKeys: (await t.tracking.listWriteKeys(req.params.instanceId)).map(writeKeyView) }));
  app.post(base, { config, schema: { params: InstanceParams, body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9_.-]+$' }) }), tags: ['tracking'] } }, async (req, reply) => {
    const { key, writeKey } = await t.tracking.createWriteKey(req.params.instanceId, req.body.name);
    return reply.status(201).send({ ...writeKeyView(key), writeKey });
  });
  app.delete(`${base}/:id`, { config, schema: { params: Type.Object({ instanceId: Type.String(), id: Type.String() }), tags: ['tracking'] } }, async (req, reply) => {
    await t.tracking.revokeWriteKey(req.params.instanceId, req.params.id);
    return reply.status(204).send();
  });
};

/** The write key from Basic auth (`writeKey:`) or the body's `writeKey`. */
function writeKeyOf(authorization: string | undefined, body: JsonObject): string | undefined {
  if (authorization?.toLowerCase().startsWith('basic ')) {
    const user = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8').split(':')[0];
    if (user) return user;
  }
  return typeof body['writeKey'] === 'string' ? body['writeKey'] : undefined;
}

/**
 * Segment-compatible endpoints (/v1/identify … /v1/batch and the short forms), so that the
 * Segment and RudderStack SDKs work by changing only their host. Bodies are JSON whatever their
 * Content-Type says, gzip'd or not.
 */
export const trackingRoutes: FastifyPluginAsyncTypebox<{ t: Tessera }> = async (app, { t }) => {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_INFLATED }, (req, body: Buffer, done) => {
    try {
      const raw = decodeRequestBody(body, req.headers['content-encoding'], MAX_INFLATED, true);
      done(null, { json: JSON.parse(raw.toString('utf8')) as unknown, bytes: raw.length });
    } catch (err) {
      if (err instanceof TesseraError) {
        done(err, undefined);
        return;
      }
      done(new TesseraError('invalid', 'malformed_body', `the body is not (gzip'd) JSON: ${(err as Error).message}`), undefined);
    }
  });

  const handle = (type: SegmentType | undefined) => async (req: { headers: Record<string, string | string[] | undefined>; body: unknown; id: string }) => {
    const parsed = req.body as { json: unknown; bytes: number } | undefined;
    if (!parsed || !isObject(parsed.json)) throw new TesseraError('invalid', 'invalid_body', 'the body is a JSON object');
    const key = await t.tracking.authenticate(writeKeyOf(req.headers['authorization'] as string | undefined, parsed.json));
    await t.tracking.track(key, type, parsed.json, parsed.bytes, req.id);
    return { success: true };
  };
  for (const type of SEGMENT_TYPES) app.post(`/v1/${type}`, { schema: { tags: ['tracking'] } }, handle(type));
  for (const [short, type] of Object.entries(SHORT_FORMS)) app.post(`/v1/${short}`, { schema: { tags: ['tracking'] } }, handle(type));
  app.post('/v1/batch', { schema: { tags: ['tracking'] } }, handle(undefined));
  app.post('/v1/b', { schema: { tags: ['tracking'] } }, handle(undefined));
  app.get('/v1/projects/:writeKey/settings', { schema: { params: Type.Object({ writeKey: Type.String() }), tags: ['tracking'] } }, async (req) => {
    const key = await t.tracking.authenticate(req.params.writeKey);
    return { integrations: { 'Segment.io': { apiKey: req.params.writeKey, apiHost: req.headers.host ?? '', protocol: 'http' } }, plan: { track: { __default: { enabled: true } }, identify: { __default: { enabled: true } } }, source: { name: key.name } };
  });
};
