/**
 * The NUL character (U+0000): PostgreSQL's text cannot hold it, so no backend takes it in a value
 * stored in a column of its own (identity values, activity ids and types, ids in URLs).
 */
export const holdsNul = (value: unknown): value is string => typeof value === 'string' && value.includes('\u0000');

/** The violation's message for a value that holds one. */
export const nulMessage = (what: string): string => `${what} must not hold a NUL character (U+0000)`;

/** The JSON pointer of the first key or string value in a JSON document that holds a NUL character, if any. */
export function nulPointer(value: unknown, pointer = ''): string | undefined {
  if (holdsNul(value)) return pointer === '' ? '/' : pointer;
  if (value === null || typeof value !== 'object') return undefined;
  for (const [key, child] of Object.entries(value)) {
    const at = `${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (holdsNul(key)) return at;
    const found = nulPointer(child, at);
    if (found !== undefined) return found;
  }
  return undefined;
}
