import assert from 'node:assert/strict';
import { InstanceBreaker } from '../../lib/breaker/instance-breaker.ts';
import type { BreakerConfig } from '../../lib/config/types.ts';
import { createLogger } from '../../lib/observe/logger.ts';
import { createMemoryStore } from '../../lib/state/memory-store.ts';
import type { StateStore } from '../../lib/state/state-store.ts';
import { createManualClock } from '../support/manual-clock.ts';

const config: BreakerConfig = {
  failure_threshold: 5,
  window_ms: 10_000,
  reset_timeout_ms: 30_000,
  error_threshold_percentage: 50,
  volume_threshold: 10,
};
const log = createLogger('silent');
/** Lets the store's promises (window counts, leases) settle. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('InstanceBreaker', () => {
  let clock: ReturnType<typeof createManualClock>;
  let store: StateStore;
  const breaker = (s: StateStore = store, overrides: Partial<BreakerConfig> = {}) =>
    new InstanceBreaker({ key: 'r/a', config: { ...config, ...overrides }, store: s, clock, log, trialLeaseMs: 35_000 });

  beforeEach(() => {
    clock = createManualClock(1_000_000);
    store = createMemoryStore({ clock, replicaId: 'one' });
  });

  async function fail(b: InstanceBreaker, n: number, reason = 'HTTP 503') {
    for (let i = 0; i < n; i++) {
      b.onFailure(reason);
      await settle();
    }
  }

  it('opens after failure_threshold failures and then refuses requests', async () => {
    const b = breaker();
    await fail(b, 4);
    assert.equal(b.state(), 'closed');
    assert.equal(b.allows(), true);
    await fail(b, 1);
    assert.equal(b.state(), 'open');
    assert.equal(b.allows(), false);
    assert.match(b.snapshot().reason ?? '', /5 failures/);
    assert.equal(b.waitMs(), 30_000);
  });

  it('keeps a busy instance in service when its failure rate stays under the percentage', async () => {
    const b = breaker();
    for (let i = 0; i < 30; i++) b.onSuccess();
    clock.advance(1000); // successes are counted in batches
    await settle();
    await fail(b, 6);
    assert.equal(b.state(), 'closed', '6 failures in 36 calls is 17%');
    await fail(b, 30);
    assert.equal(b.state(), 'open', '36 failures in 66 calls is over 50%');
  });

  it('forgets failures older than the window', async () => {
    const b = breaker();
    await fail(b, 4);
    clock.advance(11_000);
    await fail(b, 4);
    assert.equal(b.state(), 'closed');
  });

  it('admits exactly one trial request after the reset timeout and closes when it succeeds', async () => {
    const b = breaker();
    await fail(b, 5);
    clock.advance(29_999);
    assert.equal(b.allows(), false);
    clock.advance(1);
    assert.equal(b.state(), 'half_open');
    assert.equal(b.allows(), false, 'the trial lease is being acquired');
    await settle();
    assert.equal(b.allows(), true);
    b.onDispatch();
    assert.equal(b.allows(), false, 'one trial at a time');
    b.onSuccess();
    assert.equal(b.state(), 'closed');
    assert.equal(b.allows(), true);
  });

  it('re-opens for another reset timeout when the trial fails', async () => {
    const b = breaker();
    await fail(b, 5);
    clock.advance(30_000);
    b.allows();
    await settle();
    assert.equal(b.allows(), true);
    b.onDispatch();
    b.onFailure('HTTP 500');
    assert.equal(b.state(), 'open');
    assert.equal(b.waitMs(), 30_000);
    assert.match(b.snapshot().reason ?? '', /trial request failed/);
  });

  it('lets the next request be the trial when the client of the first one left', async () => {
    const b = breaker();
    await fail(b, 5);
    clock.advance(30_000);
    b.allows();
    await settle();
    b.onDispatch();
    b.onAbandoned();
    assert.equal(b.allows(), true);
  });

  it('holds an instance out for the Retry-After of a 429, even below the threshold', async () => {
    const b = breaker();
    b.onFailure('HTTP 429', 20);
    await settle();
    assert.equal(b.state(), 'open');
    assert.equal(b.waitMs(), 20_000);
    clock.advance(20_000);
    assert.equal(b.state(), 'half_open');
  });

  it('starts counting afresh after it closes', async () => {
    const b = breaker();
    await fail(b, 5);
    clock.advance(30_000);
    b.allows();
    await settle();
    b.onDispatch();
    b.onSuccess();
    await fail(b, 1);
    assert.equal(b.state(), 'closed', 'the 5 failures before the close do not count again');
  });

  // Exactly one half-open trial across replicas needs two stores on one Redis: spec/integration/fleet.spec.ts.
  describe('fed by two breakers through one store', () => {
    it('opens on both when their failures add up to the threshold (3 + 2)', async () => {
      const one = breaker(store);
      const two = breaker(store);
      await fail(one, 3);
      await fail(two, 2);
      assert.equal(one.state(), 'open');
      assert.equal(two.state(), 'open');
    });

  });
});
