import { InstanceLimiter, type LimitVerdict, type RateLimits } from '../domain/limits/token-bucket.js';

/** Rate limits per instance: a request passes all its checks and takes its tokens, or takes none. */
export interface RateLimiter {
  check(instanceId: string, limits: RateLimits, messages: number, syncValidation: boolean, now: number): Promise<LimitVerdict>;
}

/** The embedded mode's limiter: the buckets in this process's memory. */
export class LocalRateLimiter implements RateLimiter {
  private readonly limiters = new Map<string, InstanceLimiter>();

  async check(instanceId: string, limits: RateLimits, messages: number, syncValidation: boolean, now: number): Promise<LimitVerdict> {
    let limiter = this.limiters.get(instanceId);
    if (!limiter) this.limiters.set(instanceId, (limiter = new InstanceLimiter(limits, now)));
    else limiter.update(limits);
    return limiter.check(messages, syncValidation, now);
  }
}
