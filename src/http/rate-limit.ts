import type { FastifyReply, FastifyRequest } from 'fastify';
import { TesseraError } from '../domain/errors.js';
import { isObject } from '../domain/json-path.js';
import { DEFAULT_RATE_LIMITS, type RateLimits } from '../domain/limits/token-bucket.js';
import type { Tessera } from '../runtime/tessera.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Ingestion routes count against the instance's rate limits. */
    ingest?: boolean;
  }
}

const UNIT: Record<keyof RateLimits, string> = {
  requestsPerSecond: 'ingestion requests a second',
  messagesPerSecond: 'messages a second',
  syncValidationPerMinute: 'syncValidation requests a minute',
};

/**
 * Rate limits per instance on ingestion routes, checked before any work (a limited request does
 * nothing): requests/s, messages/s and syncValidation requests/minute. Over a limit: 429 with
 * Retry-After and the limit named. Shared by every node on PostgreSQL; in memory when embedded.
 */
export function createRateLimitHook(t: Tessera) {
  return async function rateLimit(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    if (!request.routeOptions.config.ingest) return;
    const instanceId = (request.params as { instanceId?: string }).instanceId;
    if (!instanceId) return;
    const catalog = await t.catalog.get(instanceId);
    if (!catalog) return;
    const limits = catalog.settings.rateLimits ?? DEFAULT_RATE_LIMITS;
    const body = request.body;
    const messages = isObject(body) && Array.isArray(body['messages']) ? body['messages'].length : 1;
    const sync = (request.query as { syncValidation?: boolean }).syncValidation === true;
    const verdict = await t.rateLimiter.check(instanceId, limits, messages, sync, t.clock.now());
    if (verdict.ok) return;
    const retryAfterSeconds = Math.max(1, Math.ceil(verdict.retryAfterMs! / 1000));
    throw new TesseraError(
      'rate_limited',
      'rate_limited',
      `over this instance's limit of ${limits[verdict.limit!]} ${UNIT[verdict.limit!]}; retry after ${retryAfterSeconds} s`,
      { limit: verdict.limit, value: limits[verdict.limit!], retryAfterSeconds },
    );
  };
}
