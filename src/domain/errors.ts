/**
 * Errors the domain and pipelines raise. Each carries a stable `code` and a kind that the
 * edges (HTTP, CLI) map to their own vocabulary (status codes, exit codes).
 */
export type ErrorKind =
  | 'invalid'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'too_large'
  | 'unsupported'
  | 'rate_limited'
  | 'unavailable';

export class TesseraError extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'TesseraError';
  }
}

export const invalid = (code: string, message: string, details?: unknown): TesseraError =>
  new TesseraError('invalid', code, message, details);

export const notFound = (code: string, message: string): TesseraError =>
  new TesseraError('not_found', code, message);

export const conflict = (code: string, message: string, details?: unknown): TesseraError =>
  new TesseraError('conflict', code, message, details);
