import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { TesseraError, type ErrorKind } from '../domain/errors.js';
import { BODY_LIMIT_BYTES, MAX_PATH_SEGMENT } from './request-limits.js';

export const STATUS_OF_KIND: Record<ErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  unsupported: 415,
  rate_limited: 429,
  unavailable: 503,
};

export interface ErrorBody {
  code: string;
  message: string;
  details?: unknown;
  requestId: string;
}

/** Fastify's own errors, given stable codes and messages that say what to fix. */
const FASTIFY_CODES: Record<string, { status: number; code: string; message?: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'body_too_large', message: `the request body is larger than the limit (${BODY_LIMIT_BYTES / (1024 * 1024)} MB); split it into several requests` },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'unsupported_media_type', message: 'send the body as application/json' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'empty_body', message: 'the request body is empty; send a JSON document' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'invalid_content_length', message: 'the Content-Length header does not match the body' },
  FST_ERR_VALIDATION: { status: 400, code: 'invalid_request' },
  FST_ERR_MAX_PARAM_LENGTH: { status: 414, code: 'path_segment_too_long', message: `a path segment (an id or record key) is longer than ${MAX_PATH_SEGMENT.toLocaleString('en-US')} characters` },
  FST_ERR_BAD_URL: { status: 400, code: 'invalid_url', message: 'the URL is not valid: each path segment must be percent-encoded UTF-8' },
};

/** Maps any error to a JSON answer with a stable code; unknown errors are a logged 500. */
export function handleError(error: FastifyError | TesseraError | Error, request: FastifyRequest, reply: FastifyReply): void {
  const send = (status: number, body: Omit<ErrorBody, 'requestId'>): void => {
    void reply.status(status).send({ ...body, requestId: request.id });
  };
  if (error instanceof TesseraError) {
    if (error.kind === 'rate_limited' || error.kind === 'unavailable') {
      const retry = (error.details as { retryAfterSeconds?: number } | undefined)?.retryAfterSeconds;
      if (retry !== undefined) void reply.header('retry-after', String(retry));
    }
    send(STATUS_OF_KIND[error.kind], { code: error.code, message: error.message, ...(error.details !== undefined ? { details: error.details } : {}) });
    return;
  }
  const fe = error as FastifyError;
  const known = fe.code ? FASTIFY_CODES[fe.code] : undefined;
  if (known) {
    const details = fe.validation?.map((v) => ({ path: v.instancePath || '/', keyword: v.keyword, message: v.message ?? 'is invalid', in: fe.validationContext }));
    send(known.status, { code: known.code, message: known.message ?? fe.message, ...(details ? { details } : {}) });
    return;
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    send(fe.statusCode, { code: (fe.code ?? 'bad_request').toLowerCase(), message: fe.message });
    return;
  }
  request.log.error({ err: error }, 'unhandled error');
  send(500, { code: 'internal_error', message: 'an internal error occurred; it has been logged' });
}
