import { digest } from '../domain/digest.js';
import type { Clock } from '../domain/clock.js';
import { invalid, notFound, TesseraError } from '../domain/errors.js';
import { newId, newSecret } from '../domain/ids.js';
import { AlreadyExists, type ApiKeyRecord, type ControlStore, type Role } from '../ports/control-store.js';

export const ROLES: readonly Role[] = ['admin', 'contributor', 'viewer'];
const RANK: Record<Role, number> = { viewer: 0, contributor: 1, admin: 2 };

export const roleAllows = (have: Role, need: Role): boolean => RANK[have] >= RANK[need];

export const hashKey = (secret: string): string => digest('sha256', secret, 'hex');

export interface IssuedKey {
  key: ApiKeyRecord;
  /** The secret itself: shown once, never stored. */
  secret: string;
}

/** How long a key lookup is remembered. Changes made through this process apply at once; changes made by another process (the CLI) within this time. */
export const KEY_CACHE_MS = 2000;
const KEY_CACHE_MAX = 10_000;

/** API keys: created, listed, rotated (primary/secondary) and revoked; stored only as hashes. */
export class KeyService {
  private readonly cache = new Map<string, { key: ApiKeyRecord | undefined; until: number }>();

  constructor(
    private readonly control: ControlStore,
    private readonly clock: Clock,
  ) {}

  async create(instanceId: string, name: string, role: Role, secret?: string): Promise<IssuedKey> {
    if (!ROLES.includes(role)) throw invalid('invalid_role', `role must be one of ${ROLES.join(', ')}`);
    const value = secret ?? newSecret('tsk');
    if (value.length < 16) throw invalid('key_too_short', 'an API key must be at least 16 characters long');
    const key: ApiKeyRecord = {
      id: newId(),
      instanceId,
      name,
      role,
      createdAt: this.clock.now(),
      rotatedAt: null,
      revokedAt: null,
      hasSecondary: false,
    };
    try {
      await this.control.createKey(key, hashKey(value));
    } catch (err) {
      if (err instanceof AlreadyExists) throw new TesseraError('conflict', 'key_exists', 'that key value is already in use');
      throw err;
    }
    return { key, secret: value };
  }

  /** Resolves a presented secret to its live key, or undefined when unknown or revoked. */
  async authenticate(secret: string): Promise<ApiKeyRecord | undefined> {
    const hash = hashKey(secret);
    const now = Date.now();
    const cached = this.cache.get(hash);
    if (cached && cached.until > now) return cached.key;
    const match = await this.control.findKeyByHash(hash);
    const key = !match || match.key.revokedAt !== null ? undefined : match.key;
    if (this.cache.size >= KEY_CACHE_MAX) this.cache.clear();
    this.cache.set(hash, { key, until: now + KEY_CACHE_MS });
    return key;
  }

  list(instanceId: string): Promise<ApiKeyRecord[]> {
    return this.control.listKeys(instanceId);
  }

  async get(instanceId: string, keyId: string): Promise<ApiKeyRecord> {
    const key = await this.control.getKey(instanceId, keyId);
    if (!key) throw notFound('key_not_found', `key ${keyId} does not exist`);
    return key;
  }

  /** The current secret becomes the secondary (still accepted) and a new primary is issued. */
  async rotate(instanceId: string, keyId: string): Promise<IssuedKey> {
    const key = await this.get(instanceId, keyId);
    if (key.revokedAt !== null) throw invalid('key_revoked', 'a revoked key cannot be rotated');
    const secret = newSecret('tsk');
    await this.control.rotateKey(instanceId, keyId, hashKey(secret), this.clock.now());
    this.cache.clear();
    return { key: await this.get(instanceId, keyId), secret };
  }

  /** Stops accepting the secondary secret (the one before the last rotation). */
  async expireSecondary(instanceId: string, keyId: string): Promise<ApiKeyRecord> {
    await this.get(instanceId, keyId);
    await this.control.dropSecondary(instanceId, keyId);
    this.cache.clear();
    return this.get(instanceId, keyId);
  }

  async revoke(instanceId: string, keyId: string): Promise<ApiKeyRecord> {
    await this.get(instanceId, keyId);
    await this.control.revokeKey(instanceId, keyId, this.clock.now());
    this.cache.clear();
    return this.get(instanceId, keyId);
  }
}
