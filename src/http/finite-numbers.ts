import type { FastifyRequest } from 'fastify';
import { TesseraError } from '../domain/errors.js';

/**
 * Ajv turns a query or path value such as `1e309` into Infinity when the schema asks for a
 * number, and then skips `minimum` and `maximum` (they only compare finite numbers). Checked
 * here once, after validation, for every route: a parameter that became a number must be finite.
 */
export async function refuseNonFiniteParameters(req: FastifyRequest): Promise<void> {
  for (const [part, values] of [['querystring', req.query], ['params', req.params]] as const) {
    if (values === null || typeof values !== 'object') continue;
    for (const [name, value] of Object.entries(values)) {
      if (typeof value === 'number' && !Number.isFinite(value)) {
        throw new TesseraError('invalid', 'invalid_request', `${part}/${name} must be a finite number`, [{ path: `/${name}`, keyword: 'type', message: 'must be a finite number', in: part }]);
      }
    }
  }
}
