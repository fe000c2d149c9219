import { InstanceLimiter, type LimitVerdict, type RateLimits } from '../../domain/limits/token-bucket.js';
import type { RateLimiter } from '../../ports/rate-limiter.js';
import type { SqlClient } from '../sql/sql-client.js';

/**
 * Rate limits shared by every API node: the instance's token buckets live in PostgreSQL, and a
 * check reads them locked (FOR UPDATE), decides with the same token-bucket code as one node does,
 * and writes them back, in one transaction.
 */
export class SharedRateLimiter implements RateLimiter {
  constructor(private readonly db: SqlClient) {}

  check(instanceId: string, limits: RateLimits, messages: number, syncValidation: boolean, now: number): Promise<LimitVerdict> {
    return this.db.transaction(async (tx) => {
      await tx.run('INSERT INTO rate_buckets (instance_id, state) VALUES (?, ?) ON CONFLICT (instance_id) DO NOTHING', [instanceId, '{}']);
      const row = await tx.get<{ state: string }>('SELECT state FROM rate_buckets WHERE instance_id = ? FOR UPDATE', [instanceId]);
      const limiter = new InstanceLimiter(limits, now, JSON.parse(row?.state ?? '{}') as ConstructorParameters<typeof InstanceLimiter>[2]);
      const verdict = limiter.check(messages, syncValidation, now);
      if (verdict.ok) await tx.run('UPDATE rate_buckets SET state = ? WHERE instance_id = ?', [JSON.stringify(limiter.states()), instanceId]);
      return verdict;
    });
  }
}
