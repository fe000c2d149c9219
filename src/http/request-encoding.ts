import { gunzipSync } from 'node:zlib';
import { TesseraError } from '../domain/errors.js';

const GZIP_MAGIC = [0x1f, 0x8b] as const;

/**
 * A request body as its sender meant it: gzip'd (`Content-Encoding: gzip`) bodies are inflated,
 * up to `maxBytes` once inflated; any other encoding is refused rather than read as if it were
 * none. `sniffGzip`: also inflate a body that starts as gzip does, whatever the header says
 * (Segment-style clients send gzip'd bodies as they please).
 */
export function decodeRequestBody(body: Buffer, contentEncoding: string | string[] | undefined, maxBytes: number, sniffGzip = false): Buffer {
  if (contentEncoding === undefined && !sniffGzip) return body;
  const codings = String(contentEncoding ?? '')
    .toLowerCase()
    .split(',')
    .map((c) => c.trim())
    .filter((c) => c !== '' && c !== 'identity');
  if (codings.length > 1 || (codings.length === 1 && codings[0] !== 'gzip')) {
    throw new TesseraError('unsupported', 'unsupported_content_encoding', `Content-Encoding ${codings.join(', ')} is not supported; send the body as it is, or gzip'd with Content-Encoding: gzip`);
  }
  const gzipped = codings[0] === 'gzip' || (sniffGzip && body[0] === GZIP_MAGIC[0] && body[1] === GZIP_MAGIC[1]);
  if (!gzipped) return body;
  try {
    return gunzipSync(body, { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new TesseraError('too_large', 'body_too_large', `the request body inflates to more than the limit (${maxBytes} bytes); split it into several requests`);
    }
    throw new TesseraError('invalid', 'invalid_gzip', `the body is not valid gzip data (Content-Encoding: gzip): ${(err as Error).message}`);
  }
}
