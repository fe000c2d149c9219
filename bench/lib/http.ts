import { Agent, request } from 'node:http';

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

export interface HttpResult {
  status: number;
  body: string;
  /** The Retry-After header (seconds; 0 when absent). */
  retryAfterSeconds: number;
}

/** A minimal keep-alive HTTP client, cheap enough not to steal the server's CPU. */
export function http(method: string, url: string, key: string, body?: string): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request(
      {
        agent,
        method,
        hostname: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), retryAfterSeconds: Number(res.headers['retry-after'] ?? 0) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** A POST that a 503 (the server's backpressure) sends again after its Retry-After; `onRetry` hears of each time. */
export async function postUntilTaken(url: string, key: string, body: string, onRetry?: () => void): Promise<HttpResult> {
  for (;;) {
    const res = await http('POST', url, key, body);
    if (res.status !== 503) return res;
    onRetry?.();
    await new Promise((r) => setTimeout(r, 1000 * (res.retryAfterSeconds || 1)));
  }
}

export async function json<T>(method: string, url: string, key: string, body?: unknown): Promise<T> {
  const res = await http(method, url, key, body === undefined ? undefined : JSON.stringify(body));
  if (res.status >= 300) throw new Error(`${method} ${url}: ${res.status} ${res.body}`);
  return JSON.parse(res.body) as T;
}
