/** Helpers over plain JSON values addressed by dotted paths (`person.name.firstName`). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export const isObject = (v: unknown): v is JsonObject =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export function getPath(obj: JsonValue | undefined, path: string): JsonValue | undefined {
  let cur: JsonValue | undefined = obj;
  for (const part of path.split('.')) {
    if (!isObject(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

/** Keys may hold dots (XDM extension keys are URIs): in flattened paths `~` is `~0` and `.` is `~1`. */
export const escapeKey = (key: string): string => (key.includes('~') || key.includes('.') ? key.replaceAll('~', '~0').replaceAll('.', '~1') : key);
const unescapeKey = (key: string): string => (key.includes('~') ? key.replaceAll('~1', '.').replaceAll('~0', '~') : key);

/** Sets a value at a flattened path made by `flattenLeaves`. */
export function setFlatPath(obj: JsonObject, path: string, value: JsonValue): void {
  if (!path.includes('.') && !path.includes('~')) {
    obj[path] = value;
    return;
  }
  const parts = path.split('.').map(unescapeKey);
  let cur: JsonObject = obj;
  for (let i = 0; i < parts.length - 1; i++) {
    const key = parts[i]!;
    const next = cur[key];
    if (isObject(next)) cur = next;
    else {
      const created: JsonObject = {};
      cur[key] = created;
      cur = created;
    }
  }
  cur[parts[parts.length - 1]!] = value;
}

/**
 * Flattens an object into leaf paths (keys escaped, see `escapeKey`). Arrays are leaves. Paths listed in `atomic` (field groups)
 * are kept whole as one leaf. Keys in `skip` at the top level are left out.
 */
export function flattenLeaves(
  obj: JsonObject,
  atomic: ReadonlySet<string>,
  skip: ReadonlySet<string>,
): Map<string, JsonValue> {
  const out = new Map<string, JsonValue>();
  const walk = (node: JsonObject, prefix: string): void => {
    for (const [key, value] of Object.entries(node)) {
      if (prefix === '' && skip.has(key)) continue;
      const path = prefix === '' ? escapeKey(key) : `${prefix}.${escapeKey(key)}`;
      if (isObject(value) && !atomic.has(path)) walk(value, path);
      else out.set(path, value);
    }
  };
  walk(obj, '');
  return out;
}

/** Depth of nesting of a JSON value, stopping early once `limit` is passed (recursion at most `limit` deep). */
export function exceedsDepth(value: unknown, limit: number, depth = 0): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (depth >= limit) return true;
  if (Array.isArray(value)) {
    for (const child of value) if (exceedsDepth(child, limit, depth + 1)) return true;
    return false;
  }
  for (const key in value) if (exceedsDepth((value as Record<string, unknown>)[key], limit, depth + 1)) return true;
  return false;
}
