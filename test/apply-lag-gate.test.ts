import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TesseraError } from '../src/domain/errors.js';
import { ApplyLagGate } from '../src/pipelines/log/apply-lag-gate.js';

/**
 * The lag bound's decisions, on a controlled clock (operational time: `performance.now` and
 * timers, faked). The process test in scale-out-nats.test.ts runs it with real workers.
 */
describe('apply lag gate', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['setTimeout', 'performance'] }));
  afterEach(() => vi.useRealTimers());

  const offsets = new Map<string, number>();
  const gate = (maxLagMs: number, read: () => Promise<ReadonlyMap<string, number>> = async () => offsets) => new ApplyLagGate({ partitions: 2, maxLagMs, appliedOffsets: read });
  beforeEach(() => offsets.clear());

  /** Whether `admit` has resolved (true), rejected (the error), or neither yet (false). */
  const watch = (p: Promise<void>): { state: () => boolean | unknown } => {
    let state: boolean | unknown = false;
    p.then(
      () => (state = true),
      (err: unknown) => (state = err),
    );
    return { state: () => state };
  };

  it('takes a group at once when nothing this node appended is unapplied, however large', async () => {
    const g = gate(500);
    const admitted = watch(g.admit(1_000_000));
    await vi.advanceTimersByTimeAsync(0);
    expect(admitted.state()).toBe(true);
  });

  it('waits while its oldest unapplied message is older than the bound, and goes on once the workers pass it', async () => {
    const g = gate(500);
    g.appended(0, 10, 100);
    g.appended(1, 11, 100);
    await vi.advanceTimersByTimeAsync(600);
    expect(await g.lagMs()).toBe(600);
    const admitted = watch(g.admit(1));
    await vi.advanceTimersByTimeAsync(300);
    expect(admitted.state()).toBe(false);
    offsets.set('partition-0', 10);
    await vi.advanceTimersByTimeAsync(100);
    // Partition 1's message is as old: still waiting.
    expect(admitted.state()).toBe(false);
    offsets.set('partition-1', 11);
    await vi.advanceTimersByTimeAsync(100);
    expect(admitted.state()).toBe(true);
    expect(await g.lagMs()).toBe(0);
  });

  it('refuses with 503 apply_behind once the workers stay behind for twice the bound', async () => {
    const g = gate(500);
    g.appended(0, 1, 1);
    await vi.advanceTimersByTimeAsync(501);
    const admitted = watch(g.admit(1));
    await vi.advanceTimersByTimeAsync(950);
    expect(admitted.state()).toBe(false);
    await vi.advanceTimersByTimeAsync(100);
    const err = admitted.state() as TesseraError;
    expect(err).toBeInstanceOf(TesseraError);
    expect(err.code).toBe('apply_behind');
    expect(err.kind).toBe('unavailable');
    expect(err.message).toContain('more than 500 ms behind');
  });

  it('holds a group that would take the workers longer than the bound at the rate they have been applying', async () => {
    const g = gate(2000);
    for (let seq = 1; seq <= 10; seq++) g.appended(0, seq, 100);
    // The workers apply 100 records every 100 ms: 1,000 a second.
    for (let seq = 0; seq <= 5; seq++) {
      if (seq > 0) offsets.set('partition-0', seq);
      await g.lagMs();
      await vi.advanceTimersByTimeAsync(100);
    }
    // 500 records left, ~0.6 s old: within the bound of 2 s. 3,000 more would wait 3.5 s; 100 more, 0.6 s.
    const big = watch(g.admit(3000));
    const small = watch(g.admit(100));
    await vi.advanceTimersByTimeAsync(60);
    expect(small.state()).toBe(true);
    expect(big.state()).toBe(false);
    offsets.set('partition-0', 10);
    await vi.advanceTimersByTimeAsync(60);
    expect(big.state()).toBe(true);
  });

  it('counts offsets it cannot read as unmoved: refused with 503, not failed', async () => {
    const g = gate(300, () => Promise.reject(new Error('connection refused')));
    g.appended(1, 5, 10);
    await vi.advanceTimersByTimeAsync(301);
    const admitted = watch(g.admit(1));
    await vi.advanceTimersByTimeAsync(1100);
    expect((admitted.state() as TesseraError).code).toBe('apply_behind');
  });
});
