import type { FastifyRequest } from 'fastify';
import { invalid } from '../domain/errors.js';
import { nulMessage, nulPointer } from '../domain/nul.js';

/**
 * The control plane's bodies (names, ids, settings, rules) are kept in text columns, which on
 * PostgreSQL cannot hold a NUL character: a body that holds one is refused on every backend alike.
 * Only bodies that a route's schema validated as JSON are looked at (an upload is a stream).
 */
export async function refuseNulInBody(req: FastifyRequest): Promise<void> {
  if (!req.routeOptions.schema?.body) return;
  const at = nulPointer(req.body);
  if (at === undefined) return;
  throw invalid('nul_character', `${at} holds a NUL character (U+0000), which names, ids and settings cannot hold; remove it`, [{ path: at, keyword: 'nul_character', message: nulMessage('the value') }]);
}
