import { Type } from 'typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { iso } from '../../domain/clock.js';
import type { RefreshRun } from '../../ports/refresh-runs.js';
import type { Tessera } from '../../runtime/tessera.js';
import { InstanceParams, Paging } from '../schemas/common.js';
import { UnificationBody } from '../schemas/unification.js';
import { refuseNulInBody } from '../nul-in-body.js';

export const runView = (r: RefreshRun) => ({
  id: r.id,
  status: r.status,
  trigger: r.trigger,
  startedAt: iso(r.startedAt),
  finishedAt: iso(r.finishedAt),
  durationMs: r.finishedAt === null ? null : r.finishedAt - r.startedAt,
  stages: r.stages,
  counts: r.counts,
  message: r.message,
});

const RunParams = Type.Object({ instanceId: Type.String(), runId: Type.String() });
const RecordParams = Type.Object({ instanceId: Type.String(), id: Type.String(), recordKey: Type.String({ minLength: 1 }) });

/** Unification settings, refresh runs and their history, and deleting source records. */
export const refreshRoutes: FastifyPluginAsyncTypebox<{ t: Tessera }> = async (app, { t }) => {
  app.addHook('preHandler', refuseNulInBody);
  const base = '/api/instances/:instanceId/manage';
  const write = { role: 'contributor' as const };
  const read = { role: 'viewer' as const };

  app.get(`${base}/unification`, { config: read, schema: { params: InstanceParams, tags: ['refresh'] } }, async (req) => {
    const config = await t.refresh.getConfig(req.params.instanceId);
    const next = t.refresh.nextScheduled(req.params.instanceId);
    return { ...config, nextRunAt: next === undefined ? null : iso(next) };
  });

  app.put(`${base}/unification`, { config: write, schema: { params: InstanceParams, body: UnificationBody, tags: ['refresh'] } }, async (req) => {
    const config = await t.refresh.putConfig(req.params.instanceId, req.body);
    const next = t.refresh.nextScheduled(req.params.instanceId);
    return { ...config, nextRunAt: next === undefined ? null : iso(next) };
  });

  app.post(
    `${base}/unification/explain`,
    {
      config: read,
      schema: {
        params: InstanceParams,
        body: Type.Object({
          left: Type.String({ minLength: 3, maxLength: 500, description: 'dataset/recordKey' }),
          right: Type.String({ minLength: 3, maxLength: 500, description: 'dataset/recordKey' }),
        }),
        tags: ['refresh'],
      },
    },
    async (req) => t.explainer.explain(req.params.instanceId, req.body.left, req.body.right),
  );

  app.post(
    `${base}/refresh`,
    {
      config: write,
      schema: {
        params: InstanceParams,
        querystring: Type.Object({ wait: Type.Optional(Type.Boolean({ description: 'answer when the run has finished (200) instead of at once (202)' })) }),
        tags: ['refresh'],
      },
    },
    async (req, reply) => {
      const { run, done } = await t.refresh.trigger(req.params.instanceId, 'manual');
      if (req.query.wait) return reply.status(200).send(runView(await done));
      return reply.status(202).header('location', `${req.url.split('?')[0]}/runs/${run.id}`).send(runView(run));
    },
  );

  app.get(`${base}/refresh/runs`, { config: read, schema: { params: InstanceParams, querystring: Paging, tags: ['refresh'] } }, async (req) => ({
    runs: (await t.refresh.listRuns(req.params.instanceId, req.query.limit, req.query.offset)).map(runView),
  }));

  app.get(`${base}/refresh/runs/:runId`, { config: read, schema: { params: RunParams, tags: ['refresh'] } }, async (req) => runView(await t.refresh.getRun(req.params.instanceId, req.params.runId)));

  app.delete(`${base}/datasets/:id/records/:recordKey`, { config: write, schema: { params: RecordParams, querystring: Type.Object({ caller: Type.Optional(Type.String({ maxLength: 200 })) }), tags: ['datasets'] } }, async (req, reply) => {
    await t.records.delete(req.params.instanceId, req.params.id, req.params.recordKey, req.query.caller ?? null);
    return reply.status(204).send();
  });
};
