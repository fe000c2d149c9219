import { InstanceLimiter, type LimitVerdict, type RateLimits } from '../../domain/limits/token-bucket.js';
import type { RateLimiter } from '../../ports/rate-limiter.js';
import type { SqlClient } from '../sql/sql-client.js';

interface PendingCheck {
  limits: RateLimits;
  messages: number;
  syncValidation: boolean;
  now: number;
  resolve: (v: LimitVerdict) => void;
  reject: (e: unknown) => void;
}

/**
 * Rate limits shared by every API node: the instance's token buckets live in PostgreSQL, and a
 * check reads them locked (FOR UPDATE), decides with the same token-bucket code as one node does,
 * and writes them back, in one transaction. Checks that arrive on this node while one such
 * transaction runs are decided together in the next one, in arrival order (one row lock for
 * many requests, not one each: the lock would otherwise cap an instance at a few hundred
 * requests a second across the cluster).
 */
export class SharedRateLimiter implements RateLimiter {
  private readonly queues = new Map<string, PendingCheck[]>();

  constructor(private readonly db: SqlClient) {}

  check(instanceId: string, limits: RateLimits, messages: number, syncValidation: boolean, now: number): Promise<LimitVerdict> {
    return new Promise((resolve, reject) => {
      const queue = this.queues.get(instanceId);
      const check = { limits, messages, syncValidation, now, resolve, reject };
      if (queue) queue.push(check);
      else {
        this.queues.set(instanceId, [check]);
        void this.drain(instanceId);
      }
    });
  }

  private async drain(instanceId: string): Promise<void> {
    for (;;) {
      const batch = this.queues.get(instanceId)!.splice(0);
      if (batch.length === 0) {
        this.queues.delete(instanceId);
        return;
      }
      try {
        const verdicts = await this.decide(instanceId, batch);
        batch.forEach((c, i) => c.resolve(verdicts[i]!));
      } catch (err) {
        for (const c of batch) c.reject(err);
      }
    }
  }

  private decide(instanceId: string, batch: readonly PendingCheck[]): Promise<LimitVerdict[]> {
    return this.db.transaction(async (tx) => {
      await tx.run('INSERT INTO rate_buckets (instance_id, state) VALUES (?, ?) ON CONFLICT (instance_id) DO NOTHING', [instanceId, '{}']);
      const row = await tx.get<{ state: string }>('SELECT state FROM rate_buckets WHERE instance_id = ? FOR UPDATE', [instanceId]);
      const first = batch[0]!;
      const limiter = new InstanceLimiter(first.limits, first.now, JSON.parse(row?.state ?? '{}') as ConstructorParameters<typeof InstanceLimiter>[2]);
      const verdicts = batch.map((c) => {
        limiter.update(c.limits);
        return limiter.check(c.messages, c.syncValidation, c.now);
      });
      if (verdicts.some((v) => v.ok)) await tx.run('UPDATE rate_buckets SET state = ? WHERE instance_id = ?', [JSON.stringify(limiter.states()), instanceId]);
      return verdicts;
    });
  }
}
