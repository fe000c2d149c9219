import { isUtf8 } from 'node:buffer';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TesseraError } from '../domain/errors.js';
import { decodeRequestBody } from './request-encoding.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The JSON body's size as parsed (after inflating a gzip'd one): what the body's size limits are about. */
    jsonBytes: number;
  }
}

/**
 * JSON bodies (gzip'd ones inflated, up to `maxBytes`) are parsed from raw bytes so that invalid
 * UTF-8 is refused instead of being silently replaced, and malformed JSON gets a stable code and
 * a message with the position.
 */
export function registerJsonParser(app: FastifyInstance, maxBytes: number): void {
  app.decorateRequest('jsonBytes', 0);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req: FastifyRequest, raw: Buffer, done) => {
    let body: Buffer;
    try {
      body = decodeRequestBody(raw, req.headers['content-encoding'], maxBytes);
    } catch (err) {
      done(err as TesseraError, undefined);
      return;
    }
    req.jsonBytes = body.length;
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
