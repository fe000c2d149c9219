import { randomBytes } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';

/** Time-ordered ids (UUIDv7): they keep SQLite B-tree inserts append-mostly. */
export const newId = (): string => uuidv7();

/** A secret token for API keys: prefix + 32 random bytes, base64url. */
export const newSecret = (prefix: string): string => `${prefix}_${randomBytes(32).toString('base64url')}`;
