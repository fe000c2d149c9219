/**
 * The NUL character (U+0000): PostgreSQL's text cannot hold it, so no backend takes it in a value
 * stored in a column of its own (identity values, activity ids and types, ids in URLs).
 */
export const holdsNul = (value: unknown): value is string => typeof value === 'string' && value.includes('\u0000');

/** The violation's message for a value that holds one. */
export const nulMessage = (what: string): string => `${what} must not hold a NUL character (U+0000)`;
