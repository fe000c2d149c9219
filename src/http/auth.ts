import type { FastifyReply, FastifyRequest } from 'fastify';
import { TesseraError } from '../domain/errors.js';
import type { ApiKeyRecord, Role } from '../ports/control-store.js';
import { roleAllows, type KeyService } from '../services/keys.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The least role a route needs; routes without one are public. */
    role?: Role;
  }
  interface FastifyRequest {
    apiKey?: ApiKeyRecord;
  }
}

/** Reads the key from `Authorization: Bearer` or `Ocp-Apim-Subscription-Key`. */
export function presentedKey(request: FastifyRequest): string | undefined {
  const auth = request.headers.authorization;
  if (typeof auth === 'string' && auth.toLowerCase().startsWith('bearer ')) return auth.slice(7).trim();
  const apim = request.headers['ocp-apim-subscription-key'];
  if (typeof apim === 'string' && apim.trim() !== '') return apim.trim();
  return undefined;
}

/**
 * Checks every instance route: a live key, of this instance (another instance's resources do not
 * exist for it: 404), with a role at least the route's.
 */
export function createAuthHook(keys: KeyService) {
  return async function authenticate(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const need = request.routeOptions.config.role;
    if (!need) return;
    const secret = presentedKey(request);
    if (!secret) throw new TesseraError('unauthenticated', 'missing_api_key', 'send an API key as "Authorization: Bearer <key>" or "Ocp-Apim-Subscription-Key: <key>"');
    const key = await keys.authenticate(secret);
    if (!key) throw new TesseraError('unauthenticated', 'invalid_api_key', 'the API key is unknown or has been revoked');
    const instanceId = (request.params as { instanceId?: string }).instanceId;
    if (instanceId !== undefined && instanceId !== key.instanceId) {
      throw new TesseraError('not_found', 'instance_not_found', `instance ${instanceId} does not exist`);
    }
    if (!roleAllows(key.role, need)) {
      throw new TesseraError('forbidden', 'insufficient_role', `this operation needs the ${need} role; the key has ${key.role}`);
    }
    request.apiKey = key;
  };
}
