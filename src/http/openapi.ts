import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { ErrorResponse } from './schemas/common.js';

const ERROR_STATUSES: Record<string, string> = {
  '400': 'Bad input: the body, a parameter or a record does not fit (see `code` and `details`)',
  '401': 'No API key, or an unknown or revoked one',
  '403': 'The key\'s role is not enough for this operation',
  '404': 'Not found (also: an instance the key does not belong to)',
  '409': 'Conflict with what exists',
  '413': 'Body or record over the size limit',
  '415': 'Not application/json',
  '429': 'Over a rate limit (see Retry-After)',
  '503': 'Shutting down or overloaded (see Retry-After)',
};

/**
 * The OpenAPI document, generated from the route schemas (the same TypeBox definitions that
 * validate requests), served at /openapi.json, with a reference page at /docs.
 */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Tessera API', version: '0.1.0', description: 'Self-hostable real-time customer data platform.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, subscriptionKey: { type: 'apiKey', in: 'header', name: 'Ocp-Apim-Subscription-Key' } } },
    },
    transform: ({ schema, url, route }) => {
      const base = (schema ?? {}) as Record<string, unknown>;
      const needsKey = route.config !== undefined && (route.config as { role?: string }).role !== undefined;
      const responses: Record<string, unknown> = { ...((base['response'] as Record<string, unknown> | undefined) ?? {}) };
      if (!Object.keys(responses).some((s) => s.startsWith('2'))) responses['2XX'] = { description: 'Success' };
      for (const [status, description] of Object.entries(ERROR_STATUSES)) {
        if (!needsKey && (status === '401' || status === '403')) continue;
        responses[status] ??= { description, ...ErrorResponse, $id: undefined };
      }
      return {
        schema: { ...base, response: responses, ...(needsKey ? { security: [{ bearer: [] }, { subscriptionKey: [] }] } : {}) } as typeof schema,
        url,
      };
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
