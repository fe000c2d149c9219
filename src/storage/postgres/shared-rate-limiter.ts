import { InstanceLimiter, leaseOf, TokenLease, type LimitVerdict, type RateLimits } from '../../domain/limits/token-bucket.js';
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

/** How long a node spends leased tokens on its own: at most this long's refill of each limit. */
const LEASE_MS = 100;

const PASS: LimitVerdict = { ok: true };

/**
 * Rate limits shared by every API node: the instance's token buckets live in PostgreSQL, and a
 * check reads them locked (FOR UPDATE), decides with the same token-bucket code as one node does,
 * and writes them back, in one transaction. Checks that arrive on this node while one such
 * transaction runs are decided together in the next one, in arrival order (one row lock for
 * many requests, not one each: the lock would otherwise cap an instance at a few hundred
 * requests a second across the cluster).
 *
 * Each such transaction also takes out a lease for this node: up to `LEASE_MS` worth of each
 * limit's whole tokens (what the buckets hold, if less), spent on this node's next requests
 * without a round trip; the next transaction puts back what is unspent. Tokens are only ever
 * moved, so while no time passes the nodes together pass exactly what the buckets hold; as time
 * passes the buckets refill while tokens are out, so the cluster may pass up to a lease more a
 * node (a tenth of a second's worth of each limit). Limits under 10 requests or messages a second get no
 * lease (it could not pay for one request): they are decided in PostgreSQL request by request,
 * exactly as before.
 */
export class SharedRateLimiter implements RateLimiter {
  private readonly queues = new Map<string, PendingCheck[]>();
  private readonly leases = new Map<string, TokenLease>();

  constructor(private readonly db: SqlClient) {}

  check(instanceId: string, limits: RateLimits, messages: number, syncValidation: boolean, now: number): Promise<LimitVerdict> {
    if (this.leases.get(instanceId)?.take(limits, messages, syncValidation, now)) return Promise.resolve(PASS);
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
      // Checks that queued while a transaction ran may fit the lease it took.
      const lease = this.leases.get(instanceId);
      const batch: PendingCheck[] = [];
      for (const c of this.queues.get(instanceId)!.splice(0)) {
        if (lease?.take(c.limits, c.messages, c.syncValidation, c.now)) c.resolve(PASS);
        else batch.push(c);
      }
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

  private async decide(instanceId: string, batch: readonly PendingCheck[]): Promise<LimitVerdict[]> {
    // The lease this node holds goes back in this transaction (and stays out if it fails).
    const returned = this.leases.get(instanceId);
    this.leases.delete(instanceId);
    try {
      const { verdicts, lease } = await this.db.transaction(async (tx) => {
        await tx.run('INSERT INTO rate_buckets (instance_id, state) VALUES (?, ?) ON CONFLICT (instance_id) DO NOTHING', [instanceId, '{}']);
        const row = await tx.get<{ state: string }>('SELECT state FROM rate_buckets WHERE instance_id = ? FOR UPDATE', [instanceId]);
        const first = batch[0]!;
        const limiter = new InstanceLimiter(first.limits, first.now, JSON.parse(row?.state ?? '{}') as ConstructorParameters<typeof InstanceLimiter>[2]);
        if (returned) limiter.deposit(returned.unspent(), first.now);
        const verdicts = batch.map((c) => {
          limiter.update(c.limits);
          return limiter.check(c.messages, c.syncValidation, c.now);
        });
        const last = batch[batch.length - 1]!;
        const lease = new TokenLease(last.limits, limiter.withdraw(leaseOf(last.limits, LEASE_MS), last.now), last.now + LEASE_MS);
        await tx.run('UPDATE rate_buckets SET state = ? WHERE instance_id = ?', [JSON.stringify(limiter.states()), instanceId]);
        return { verdicts, lease };
      });
      this.leases.set(instanceId, lease);
      return verdicts;
    } catch (err) {
      if (returned) this.leases.set(instanceId, returned);
      throw err;
    }
  }
}
