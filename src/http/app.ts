import Fastify, { type FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { newId } from '../domain/ids.js';
import type { Tessera } from '../runtime/tessera.js';
import { createAuthHook } from './auth.js';
import { createRateLimitHook } from './rate-limit.js';
import { handleError } from './errors.js';
import { invalid } from '../domain/errors.js';
import { registerJsonParser } from './json-body.js';
import { registerMetrics } from './metrics.js';
import { registerUsage } from './usage.js';
import { registerOpenApi } from './openapi.js';
import { refuseNonFiniteParameters } from './finite-numbers.js';
import { accessRoutes } from './routes/access.js';
import { catalogRoutes } from './routes/catalog.js';
import { collectionRoutes } from './routes/collection.js';
import { healthRoutes } from './routes/health.js';
import { keyRoutes } from './routes/keys.js';
import { keyringRoutes, profileRoutes } from './routes/profiles.js';
import { realtimeRoutes } from './routes/realtime.js';
import { entityRoutes } from './routes/entities.js';
import { batchRoutes } from './routes/batches.js';
import { refreshRoutes } from './routes/refresh.js';
import { trackingRoutes, writeKeyRoutes } from './routes/tracking.js';
import { BODY_LIMIT_BYTES, MAX_PATH_SEGMENT } from './request-limits.js';

export interface RegisteredRoute {
  method: string;
  url: string;
  /** Left out of the OpenAPI document on purpose (the document itself, metrics, the docs page's assets). */
  hidden: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    registeredRoutes: RegisteredRoute[];
  }
}

export interface AppOptions {
  logger?: boolean | { level: string };
  /** Both on unless turned off (the benchmark measures what they cost). */
  usageTelemetry?: boolean;
  rateLimits?: boolean;
}

/** Builds the HTTP API over a wired Tessera. */
export async function buildApp(t: Tessera, options: AppOptions = {}): Promise<FastifyInstance> {
  const logger = options.logger === undefined || options.logger === false ? false : {
    ...(typeof options.logger === 'object' ? options.logger : {}),
    // No keys and no personal data in logs: the query string (identities, emails) is left out,
    // and headers (keys) are never logged.
    serializers: {
      req: (req: { method: string; url: string; id: string }) => ({ method: req.method, path: req.url.split('?')[0], requestId: req.id }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  };
  const app = Fastify({
    logger,
    bodyLimit: BODY_LIMIT_BYTES,
    genReqId: () => newId(),
    requestIdHeader: false,
    return503OnClosing: true,
    // Path segments carry record keys (a dataset's primary identity: an email may be 254 characters); Fastify's default is 100.
    routerOptions: { maxParamLength: MAX_PATH_SEGMENT },
    // Errors Fastify meets before a route is found (a path that is not valid percent-encoding) get the same answers as the rest.
    frameworkErrors: (error, req, reply) => handleError(error, req, reply),
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  registerJsonParser(app, BODY_LIMIT_BYTES);
  const routes: RegisteredRoute[] = [];
  app.addHook('onRoute', (r) => {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    const hidden = (r.schema as { hide?: boolean } | undefined)?.hide === true;
    for (const method of methods) routes.push({ method: String(method), url: r.url, hidden });
  });
  app.decorate('registeredRoutes', routes);
  await registerOpenApi(app);
  registerMetrics(app, t);
  if (options.usageTelemetry !== false) registerUsage(app, t);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ code: 'route_not_found', message: `no route ${req.method} ${req.url.split('?')[0]}`, requestId: req.id });
  });
  // On shutdown, answers in flight close their connection so that keep-alive clients let go.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (req, reply, payload) => {
    void reply.header('x-request-id', req.id);
    if (closing) void reply.header('connection', 'close');
    return payload;
  });
  // Ids, identities and filters are looked up as text, and PostgreSQL's text cannot hold NUL:
  // refused here, alike on every backend, before anything is looked up.
  app.addHook('onRequest', async (req) => {
    if (/%00/i.test(req.url)) throw invalid('nul_character', 'the URL holds a NUL character (%00), which no id, identity or filter can hold; remove it');
  });
  app.addHook('preHandler', refuseNonFiniteParameters);
  app.addHook('preHandler', createAuthHook(t.keys));
  if (options.rateLimits !== false) app.addHook('preHandler', createRateLimitHook(t));

  await app.register(healthRoutes, { t });
  await app.register(keyRoutes, { t });
  await app.register(catalogRoutes, { t });
  await app.register(collectionRoutes, { t });
  await app.register(profileRoutes, { t });
  await app.register(accessRoutes, { t });
  await app.register(realtimeRoutes, { t });
  await app.register(entityRoutes, { t });
  await app.register(keyringRoutes, { t });
  await app.register(batchRoutes, { t });
  await app.register(refreshRoutes, { t });
  await app.register(writeKeyRoutes, { t });
  await app.register(trackingRoutes, { t });
  return app;
}
