import type { FastifyPluginAsync } from 'fastify';
import type { Tessera } from '../../runtime/tessera.js';

/** Liveness and readiness. */
export const healthRoutes: FastifyPluginAsync<{ t: Tessera }> = async (app, { t }) => {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    try {
      await t.control.listInstances();
    } catch {
      return reply.status(503).send({ status: 'unavailable', reason: 'the state store does not answer' });
    }
    const writer = t.writerError();
    if (writer !== null) return reply.status(503).send({ status: 'unavailable', reason: `the writer thread stopped: ${writer}` });
    const log = await t.logError();
    if (log !== null) return reply.status(503).send({ status: 'unavailable', reason: `the ingestion log does not answer: ${log}` });
    return { status: 'ready', queueDepth: t.commitQueueDepth() };
  });
};
