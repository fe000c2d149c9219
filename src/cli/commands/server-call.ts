/**
 * A request to a running Tessera: a server that cannot be reached is said so, with what to check,
 * rather than as fetch's "fetch failed".
 */
export async function reach(server: string, path: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(server + path, init);
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    throw new Error(`cannot reach Tessera at ${server} (${why}); is it running, and are --server or TESSERA_URL right?`);
  }
}

/** A non-2xx answer as the server put it: status, error code and message. */
export async function failure(method: string, path: string, res: Response): Promise<Error> {
  const text = await res.text();
  try {
    const body = JSON.parse(text) as { code?: unknown; message?: unknown };
    if (typeof body.code === 'string' && typeof body.message === 'string') return new Error(`${method} ${path}: ${res.status} ${body.code}: ${body.message}`);
  } catch {
    /* not JSON: as it came */
  }
  return new Error(`${method} ${path}: ${res.status} ${text}`);
}

/** A call to a running Tessera's HTTP API; throws with the status and the server's error when it is not 2xx. */
export async function call<T>(server: string, key: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await reach(server, path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (!res.ok) throw await failure(method, path, res);
  const text = await res.text();
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/** The server and key a command talks to: flags, else TESSERA_URL / TESSERA_KEY. */
export function serverOf(flags: { server?: string; key?: string }): { server: string; key: string } | undefined {
  const server = flags.server ?? process.env['TESSERA_URL'];
  const key = flags.key ?? process.env['TESSERA_KEY'];
  if (!server && !key) return undefined;
  if (!key) throw new Error('give an API key with --key or TESSERA_KEY');
  const url = (server ?? 'http://localhost:8080').replace(/\/$/, '');
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) {
    throw new Error(`--server (or TESSERA_URL) is an http(s) URL such as http://localhost:8080, got "${url}"`);
  }
  return { server: url, key };
}
