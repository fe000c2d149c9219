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

  /** Takes out up to `n` whole tokens, what there is when less; returns how many. */
  withdraw(n: number, now: number): number {
    this.refill(now);
    const k = Math.max(0, Math.min(Math.floor(n), Math.floor(this.tokens)));
    this.tokens -= k;
    return k;
  }

  /** Puts back tokens taken out (never above the capacity). */
  deposit(n: number, now: number): void {
    this.refill(now);
    this.tokens = Math.min(this.capacity, this.tokens + n);
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

/** An amount of each limit's tokens. */
export type Tokens = Record<keyof RateLimits, number>;

export const sameLimits = (a: RateLimits, b: RateLimits): boolean =>
  a.requestsPerSecond === b.requestsPerSecond && a.messagesPerSecond === b.messagesPerSecond && a.syncValidationPerMinute === b.syncValidationPerMinute;

/** What a request takes: a request's token, its messages' (a batch larger than the limit takes all of it), a syncValidation token. */
export const tokensOf = (limits: RateLimits, messages: number, syncValidation: boolean): Tokens => ({
  requestsPerSecond: 1,
  messagesPerSecond: Math.min(messages, limits.messagesPerSecond),
  syncValidationPerMinute: syncValidation ? 1 : 0,
});

const LIMIT_NAMES: ReadonlyArray<keyof RateLimits> = ['requestsPerSecond', 'messagesPerSecond', 'syncValidationPerMinute'];

export interface LimitVerdict {
  ok: boolean;
  limit?: keyof RateLimits;
  retryAfterMs?: number;
}

/** The buckets of one instance; a request either passes all of its checks and takes its tokens, or takes none. */
export class InstanceLimiter {
  private readonly buckets: Record<keyof RateLimits, TokenBucket>;

  /** `states`: the buckets' kept states (a shared store), else full buckets. */
  constructor(
    private limits: RateLimits,
    now: number,
    states: Partial<Record<keyof RateLimits, { tokens: number; last: number }>> = {},
  ) {
    const bucket = (limit: keyof RateLimits): TokenBucket => {
      const { rate, capacity } = bucketShape(limits, limit);
      const state = states[limit];
      return state ? TokenBucket.restore(rate, capacity, state) : new TokenBucket(rate, capacity, now);
    };
    this.buckets = { requestsPerSecond: bucket('requestsPerSecond'), messagesPerSecond: bucket('messagesPerSecond'), syncValidationPerMinute: bucket('syncValidationPerMinute') };
  }

  /** Each limit's value from its buckets, as `fn` makes it. */
  private each<T>(fn: (bucket: TokenBucket, limit: keyof RateLimits) => T): Record<keyof RateLimits, T> {
    const b = this.buckets;
    return {
      requestsPerSecond: fn(b.requestsPerSecond, 'requestsPerSecond'),
      messagesPerSecond: fn(b.messagesPerSecond, 'messagesPerSecond'),
      syncValidationPerMinute: fn(b.syncValidationPerMinute, 'syncValidationPerMinute'),
    };
  }

  /** The buckets' states, to keep in a shared store. */
  states(): Record<keyof RateLimits, { tokens: number; last: number }> {
    return this.each((bucket) => bucket.state());
  }

  /** Called on every request with the instance's current limits: unchanged ones cost three comparisons. */
  update(limits: RateLimits): void {
    if (sameLimits(limits, this.limits)) return;
    this.limits = limits;
    for (const limit of LIMIT_NAMES) {
      const { rate, capacity } = bucketShape(limits, limit);
      this.buckets[limit].reconfigure(rate, capacity);
    }
  }

  check(messages: number, syncValidation: boolean, now: number): LimitVerdict {
    const need = tokensOf(this.limits, messages, syncValidation);
    for (const limit of LIMIT_NAMES) {
      if (need[limit] === 0) continue;
      const wait = this.buckets[limit].waitFor(need[limit], now);
      if (wait > 0) return { ok: false, limit, retryAfterMs: wait };
    }
    for (const limit of LIMIT_NAMES) if (need[limit] > 0) this.buckets[limit].take(need[limit], now);
    return { ok: true };
  }

  /** Takes out up to these tokens (for a lease); returns what it took. */
  withdraw(want: Tokens, now: number): Tokens {
    return this.each((bucket, limit) => bucket.withdraw(want[limit], now));
  }

  /** Puts back the unspent tokens of a lease. */
  deposit(tokens: Tokens, now: number): void {
    for (const limit of LIMIT_NAMES) if (tokens[limit] > 0) this.buckets[limit].deposit(tokens[limit], now);
  }
}

/** A limit's bucket: its refill a second and its capacity (the per-minute limit refills a sixtieth a second). */
function bucketShape(limits: RateLimits, limit: keyof RateLimits): { rate: number; capacity: number } {
  const capacity = limits[limit];
  return { rate: limit === 'syncValidationPerMinute' ? capacity / 60 : capacity, capacity };
}

/**
 * Tokens a node took out of an instance's shared buckets, to spend on its own requests without
 * asking the shared store, until they run out or the lease ends (then the unspent ones go back).
 * A request is passed from the lease only when it holds all of that request's tokens; otherwise
 * the shared buckets decide, as without a lease.
 */
export class TokenLease {
  constructor(
    private readonly limits: RateLimits,
    private readonly tokens: Tokens,
    /** When the lease ends (the clock's time). */
    private readonly until: number,
  ) {}

  /** The lease's unspent tokens. */
  unspent(): Tokens {
    return { ...this.tokens };
  }

  /** Takes a request's tokens from the lease, when it is current, for these limits, and holds them all. */
  take(limits: RateLimits, messages: number, syncValidation: boolean, now: number): boolean {
    if (now >= this.until || !sameLimits(limits, this.limits)) return false;
    const need = tokensOf(limits, messages, syncValidation);
    for (const limit of LIMIT_NAMES) if (this.tokens[limit] < need[limit]) return false;
    for (const limit of LIMIT_NAMES) this.tokens[limit] -= need[limit];
    return true;
  }
}

const NO_LEASE: Tokens = { requestsPerSecond: 0, messagesPerSecond: 0, syncValidationPerMinute: 0 };

/**
 * The tokens a lease of `ms` asks for: that long's refill of each limit, in whole tokens. None
 * when that is not a request's worth: a lease that can pass nothing would only hold tokens back.
 */
export const leaseOf = (limits: RateLimits, ms: number): Tokens => {
  const requests = Math.floor((limits.requestsPerSecond * ms) / 1000);
  const messages = Math.floor((limits.messagesPerSecond * ms) / 1000);
  if (requests < 1 || messages < 1) return NO_LEASE;
  return { requestsPerSecond: requests, messagesPerSecond: messages, syncValidationPerMinute: Math.floor((limits.syncValidationPerMinute * ms) / 60_000) };
};
