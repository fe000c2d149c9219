import type { Clock } from '../domain/clock.js';
import { conflict, invalid, notFound } from '../domain/errors.js';
import { BUILTIN_NAMESPACES } from '../domain/identity/namespaces.js';
import { DEFAULT_BLOCKED_VALUES } from '../domain/identity/normalize.js';
import type { InstanceSettings } from '../domain/schema/model.js';
import { DEFAULT_RATE_LIMITS } from '../domain/limits/token-bucket.js';
import type { ControlStore, Instance } from '../ports/control-store.js';
import type { IssuedKey, KeyService } from './keys.js';

export const DEFAULT_SETTINGS: InstanceSettings = {
  mergePolicy: 'timestampOrdered',
  defaultPhoneRegion: 'US',
  blockedValues: [...DEFAULT_BLOCKED_VALUES],
  maxIdentitiesPerGraph: 50,
  realtimeSegmentEvaluation: false,
  rateLimits: { ...DEFAULT_RATE_LIMITS },
};

const INSTANCE_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Instances (tenants): created with the built-in namespaces, default settings and an admin key. */
export class InstanceService {
  constructor(
    private readonly control: ControlStore,
    private readonly keys: KeyService,
    private readonly clock: Clock,
  ) {}

  async create(id: string, name: string, adminSecret?: string): Promise<{ instance: Instance; admin: IssuedKey }> {
    if (!INSTANCE_ID.test(id)) throw invalid('invalid_instance_id', 'an instance id is 1-63 lower-case letters, digits and dashes');
    if (await this.control.getInstance(id)) throw conflict('instance_exists', `instance ${id} already exists`);
    const now = this.clock.now();
    const instance: Instance = { id, name, createdAt: now, settings: { ...DEFAULT_SETTINGS, blockedValues: [...DEFAULT_SETTINGS.blockedValues] } };
    await this.control.createInstance(instance);
    for (const ns of BUILTIN_NAMESPACES) await this.control.upsertNamespace(id, ns, now);
    const admin = await this.keys.create(id, 'admin', 'admin', adminSecret);
    return { instance, admin };
  }

  async get(id: string): Promise<Instance> {
    const instance = await this.control.getInstance(id);
    if (!instance) throw notFound('instance_not_found', `instance ${id} does not exist`);
    return instance;
  }

  list(): Promise<Instance[]> {
    return this.control.listInstances();
  }
}
