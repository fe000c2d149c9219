/** The limits of a request that Fastify enforces (app.ts) and its error answers name (errors.ts). */
export const BODY_LIMIT_BYTES = 1024 * 1024;
/** The longest path segment (an id, a record key) the router takes, in characters. */
export const MAX_PATH_SEGMENT = 2048;
