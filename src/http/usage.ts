import { Type } from 'typebox';
import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { invalid } from '../domain/errors.js';
import { isObject } from '../domain/json-path.js';
import { holdsNul } from '../domain/nul.js';
import type { Tessera } from '../runtime/tessera.js';
import type { UsageDimension } from '../services/usage.js';
import { InstanceParams } from './schemas/common.js';
import { parseTime } from './routes/profiles.js';

declare module 'fastify' {
  interface FastifyReply {
    usageCode?: string;
    usageBytesOut?: number;
  }
}

const DIMENSIONS: readonly UsageDimension[] = ['operation', 'caller', 'status', 'code'];

/** Records every instance request's usage and serves GET …/manage/usage. */
export function registerUsage(app: FastifyInstance, t: Tessera): void {
  app.addHook('onSend', async (_req, reply, payload) => {
    if (typeof payload === 'string') {
      reply.usageBytesOut = Buffer.byteLength(payload);
      if (reply.statusCode >= 400) {
        try {
          const parsed = JSON.parse(payload) as unknown;
          if (isObject(parsed) && typeof parsed['code'] === 'string') reply.usageCode = parsed['code'];
        } catch {
          /* not JSON */
        }
      }
    }
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    const instanceId = (req.params as { instanceId?: string } | undefined)?.instanceId;
    // Every request to an existing instance counts, refused ones included (a body that did not
    // parse never reached authentication).
    // (An id with a NUL character was refused before anything was looked up: no instance has one.)
    if (!instanceId || holdsNul(instanceId) || !(await t.catalog.get(instanceId))) return;
    const body = req.body;
    const records = isObject(body) && Array.isArray(body['messages']) ? body['messages'].length : req.routeOptions.config.ingest ? 1 : 0;
    t.usage.record({
      instanceId,
      operation: `${req.method} ${req.routeOptions.url ?? req.url}`,
      caller: (req.query as { caller?: string } | undefined)?.caller ?? null,
      status: reply.statusCode,
      code: reply.usageCode ?? null,
      records,
      bytesIn: Number(req.headers['content-length'] ?? 0),
      bytesOut: reply.usageBytesOut ?? 0,
      latencyMs: reply.elapsedTime,
    });
  });
  app.withTypeProvider<TypeBoxTypeProvider>().get(
    '/api/instances/:instanceId/manage/usage',
    {
      config: { role: 'viewer' },
      schema: {
        params: InstanceParams,
        querystring: Type.Object({
          from: Type.Optional(Type.String({ description: 'RFC 3339 or epoch ms; default to - 24 h' })),
          to: Type.Optional(Type.String({ description: 'RFC 3339 or epoch ms; default now' })),
          groupBy: Type.Optional(Type.String({ description: 'comma-separated: operation, caller, status, code' })),
          interval: Type.Optional(Type.Union([Type.Literal('minute'), Type.Literal('hour'), Type.Literal('day')])),
        }),
        tags: ['telemetry'],
      },
    },
    async (req) => {
      const groupBy = (req.query.groupBy ?? 'operation').split(',').map((s) => s.trim()).filter((s) => s !== '');
      const bad = groupBy.filter((g) => !DIMENSIONS.includes(g as UsageDimension));
      if (bad.length > 0) {
        throw invalid('invalid_group_by', `groupBy takes ${DIMENSIONS.join(', ')}; not ${bad.join(', ')}`);
      }
      const from = parseTime(req.query.from, 'from');
      const to = parseTime(req.query.to, 'to');
      return t.usage.query(req.params.instanceId, {
        groupBy: groupBy as UsageDimension[],
        interval: req.query.interval ?? 'hour',
        ...(from !== undefined ? { from } : {}),
        ...(to !== undefined ? { to } : {}),
      });
    },
  );
}
