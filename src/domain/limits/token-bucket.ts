/**
 * A token bucket: `rate` tokens a second, holding at most `capacity`. Pure: the caller passes the
 * time, so tests drive it with a controllable clock.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private rate: number,
    private capacity: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.last = now;
  }

  private refill(now: number): void {
    if (now > this.last) {
      this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.rate);
      this.last = now;
    }
  }

  /** Milliseconds until `n` tokens are there (0 when they are now). */
  waitFor(n: number, now: number): number {
    this.refill(now);
    if (this.tokens >= n) return 0;
    return Math.ceil(((n - this.tokens) / this.rate) * 1000);
  }

  take(n: number, now: number): void {
    this.refill(now);
    this.tokens -= n;
  }

  /** What to keep to carry the bucket on elsewhere (a shared store). */
  state(): { tokens: number; last: number } {
    return { tokens: this.tokens, last: this.last };
  }

  /** A bucket carried on from a kept state. */
  static restore(rate: number, capacity: number, state: { tokens: number; last: number }): TokenBucket {
    const bucket = new TokenBucket(rate, capacity, state.last);
    bucket.tokens = Math.min(capacity, state.tokens);
    return bucket;
  }

  reconfigure(rate: number, capacity: number): void {
    this.rate = rate;
    this.capacity = capacity;
    this.tokens = Math.min(this.tokens, capacity);
  }
}

export interface RateLimits {
  /** Ingestion requests a second, per instance. */
  requestsPerSecond: number;
  /** Ingested messages (records) a second, per instance. */
  messagesPerSecond: number;
  /** Requests with syncValidation=true a minute, per instance. */
  syncValidationPerMinute: number;
}

export const DEFAULT_RATE_LIMITS: RateLimits = { requestsPerSecond: 1000, messagesPerSecond: 10_000, syncValidationPerMinute: 60 };

export interface LimitVerdict {
  ok: boolean;
  limit?: keyof RateLimits;
  retryAfterMs?: number;
}

/** The buckets of one instance; a request either passes all of its checks and takes its tokens, or takes none. */
export class InstanceLimiter {
  private readonly requests: TokenBucket;
  private readonly messages: TokenBucket;
  private readonly sync: TokenBucket;

  /** `states`: the buckets' kept states (a shared store), else full buckets. */
  constructor(
    private limits: RateLimits,
    now: number,
    states: Partial<Record<keyof RateLimits, { tokens: number; last: number }>> = {},
  ) {
    const bucket = (name: keyof RateLimits, rate: number, capacity: number): TokenBucket => {
      const state = states[name];
      return state ? TokenBucket.restore(rate, capacity, state) : new TokenBucket(rate, capacity, now);
    };
    this.requests = bucket('requestsPerSecond', limits.requestsPerSecond, limits.requestsPerSecond);
    this.messages = bucket('messagesPerSecond', limits.messagesPerSecond, limits.messagesPerSecond);
    this.sync = bucket('syncValidationPerMinute', limits.syncValidationPerMinute / 60, limits.syncValidationPerMinute);
  }

  /** The buckets' states, to keep in a shared store. */
  states(): Record<keyof RateLimits, { tokens: number; last: number }> {
    return { requestsPerSecond: this.requests.state(), messagesPerSecond: this.messages.state(), syncValidationPerMinute: this.sync.state() };
  }

  /** Called on every request with the instance's current limits: unchanged ones cost three comparisons. */
  update(limits: RateLimits): void {
    const l = this.limits;
    if (limits.requestsPerSecond === l.requestsPerSecond && limits.messagesPerSecond === l.messagesPerSecond && limits.syncValidationPerMinute === l.syncValidationPerMinute) return;
    this.limits = limits;
    this.requests.reconfigure(limits.requestsPerSecond, limits.requestsPerSecond);
    this.messages.reconfigure(limits.messagesPerSecond, limits.messagesPerSecond);
    this.sync.reconfigure(limits.syncValidationPerMinute / 60, limits.syncValidationPerMinute);
  }

  check(messages: number, syncValidation: boolean, now: number): LimitVerdict {
    const checks: Array<[keyof RateLimits, TokenBucket, number]> = [
      ['requestsPerSecond', this.requests, 1],
      ['messagesPerSecond', this.messages, Math.min(messages, this.limits.messagesPerSecond)],
    ];
    if (syncValidation) checks.push(['syncValidationPerMinute', this.sync, 1]);
    for (const [limit, bucket, n] of checks) {
      const wait = bucket.waitFor(n, now);
      if (wait > 0) return { ok: false, limit, retryAfterMs: wait };
    }
    for (const [, bucket, n] of checks) bucket.take(n, now);
    return { ok: true };
  }
}
