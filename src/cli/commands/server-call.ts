/** A call to a running Tessera's HTTP API; throws with the status and body when it is not 2xx. */
export async function call<T>(server: string, key: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(server + path, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}

/** The server and key a command talks to: flags, else TESSERA_URL / TESSERA_KEY. */
export function serverOf(flags: { server?: string; key?: string }): { server: string; key: string } | undefined {
  const server = flags.server ?? process.env['TESSERA_URL'];
  const key = flags.key ?? process.env['TESSERA_KEY'];
  if (!server && !key) return undefined;
  if (!key) throw new Error('give an API key with --key or TESSERA_KEY');
  return { server: (server ?? 'http://localhost:8080').replace(/\/$/, ''), key };
}
