import { isUtf8 } from 'node:buffer';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TesseraError } from '../domain/errors.js';

/**
 * JSON bodies are parsed from raw bytes so that invalid UTF-8 is refused instead of being
 * silently replaced, and malformed JSON gets a stable code and a message with the position.
 */
export function registerJsonParser(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req: FastifyRequest, body: Buffer, done) => {
    if (body.length === 0) {
      done(new TesseraError('invalid', 'empty_body', 'the request body is empty; send a JSON document'), undefined);
      return;
    }
    if (!isUtf8(body)) {
      done(new TesseraError('invalid', 'invalid_utf8', 'the request body is not valid UTF-8'), undefined);
      return;
    }
    try {
      done(null, JSON.parse(body.toString('utf8')) as unknown);
    } catch (err) {
      done(new TesseraError('invalid', 'malformed_json', `the request body is not valid JSON: ${(err as Error).message}`), undefined);
    }
  });
}
