import assert from 'node:assert/strict';
import type { InstanceRuntime } from '../../lib/pipeline/instance-runtime.ts';
import { buildRoute } from '../support/pipeline-harness.ts';
import type { TestRoute } from '../support/pipeline-harness.ts';
import { createManualClock } from '../support/manual-clock.ts';
import type { ManualClock } from '../support/manual-clock.ts';

// The live counters of one instance (what /status and metrics show) and the breaker calls behind them.

const flush = () => new Promise((resolve) => setImmediate(resolve));

let clock: ManualClock;
let routes: TestRoute[] = [];
function fresh(): InstanceRuntime {
  const test = buildRoute(
    {
      breaker: { failure_threshold: 1, window_ms: 60_000, reset_timeout_ms: 1000 },
      instances: [{ name: 'a', provider: 'openai', auth: { header: { Authorization: 'Bearer sk-a-0123456789' } } }],
    },
    { clock },
  );
  routes.push(test);
  return test.instance('a');
}

describe('InstanceRuntime', () => {
  beforeEach(() => {
    clock = createManualClock(5_000_000);
  });
  afterEach(async () => {
    await Promise.all(routes.map((r) => r.close()));
    routes = [];
  });

  it('counts requests and the ones in flight', () => {
    const i = fresh();
    i.attemptStarted();
    i.attemptStarted();
    assert.deepEqual([i.stats.inFlight, i.stats.requests], [2, 2]);
    i.attemptEnded();
    assert.deepEqual([i.stats.inFlight, i.stats.requests], [1, 2]);
  });

  it('adds up tokens of every answer that carried usage', () => {
    const i = fresh();
    i.record({ kind: 'answered' }, { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }, undefined);
    i.record({ kind: 'answered' }, undefined, undefined);
    i.record({ kind: 'failed', reason: 'HTTP 500', retryAfterSec: undefined }, { prompt_tokens: 3, completion_tokens: 0, total_tokens: 3 }, undefined);
    assert.deepEqual([i.stats.promptTokens, i.stats.completionTokens], [13, 5]);
  });

  it('keeps latency as an exponentially weighted average (weight 0.2), ignoring attempts without one', () => {
    const i = fresh();
    assert.equal(i.stats.latencyEwmaMs, undefined);
    i.record({ kind: 'answered' }, undefined, 100);
    assert.equal(i.stats.latencyEwmaMs, 100);
    i.record({ kind: 'answered' }, undefined, 200);
    assert.equal(i.stats.latencyEwmaMs, 120);
    i.record({ kind: 'not-about-instance' }, undefined, undefined);
    assert.equal(i.stats.latencyEwmaMs, 120);
    i.record({ kind: 'answered' }, undefined, 20);
    assert.equal(i.stats.latencyEwmaMs, 100);
  });

  it('records a failure: counted, remembered with its time and reason, and reported to the breaker', async () => {
    const i = fresh();
    i.record({ kind: 'failed', reason: 'HTTP 503: busy', retryAfterSec: undefined }, undefined, undefined, { now: 1234 });
    await flush();
    assert.equal(i.stats.failures, 1);
    assert.deepEqual(i.stats.lastError, { at: 1234, reason: 'HTTP 503: busy' });
    assert.equal(i.breaker.state(), 'open');
    assert.match(i.breaker.snapshot().reason ?? '', /1 failures in 1 calls/);
  });

  it("passes a 429's Retry-After to the breaker", async () => {
    const i = fresh();
    i.record({ kind: 'failed', reason: 'HTTP 429', retryAfterSec: 45 }, undefined, undefined);
    await flush();
    assert.equal(i.breaker.waitMs(), 45_000);
  });

  it('counts an answer as a successful call and a not-about-instance outcome as no call at all', async () => {
    const i = fresh();
    i.record({ kind: 'answered' }, undefined, undefined);
    i.record({ kind: 'not-about-instance' }, undefined, undefined);
    clock.advance(2000); // successes are flushed in batches
    await flush();
    assert.deepEqual([i.breaker.snapshot().callsInWindow, i.breaker.snapshot().failuresInWindow], [1, 0]);
    assert.equal(i.stats.failures, 0);
    assert.equal(i.breaker.state(), 'closed');
  });

  it('counts the fallbacks away from it', () => {
    const i = fresh();
    i.fellBack();
    i.fellBack();
    assert.equal(i.stats.fallbacks, 2);
  });

  it('takes the counters of the instance it replaces on reload, but keeps its own in-flight count', () => {
    const old = fresh();
    old.attemptStarted();
    old.attemptStarted();
    old.attemptEnded();
    old.record({ kind: 'failed', reason: 'HTTP 500', retryAfterSec: undefined }, { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 }, 50, { now: 99 });
    old.fellBack();
    assert.equal(old.stats.inFlight, 1, 'one request still running on the old routes');
    const next = fresh();
    next.inheritCounters(old);
    assert.deepEqual(next.stats, {
      inFlight: 0,
      requests: 2,
      failures: 1,
      fallbacks: 1,
      promptTokens: 7,
      costUsd: 0,
      completionTokens: 3,
      latencyEwmaMs: 50,
      lastError: { at: 99, reason: 'HTTP 500' },
    });
    // The old object still counts down the request it is serving; the two no longer share counters.
    old.attemptEnded();
    next.fellBack();
    assert.equal(old.stats.inFlight, 0);
    assert.equal(next.stats.inFlight, 0);
    assert.equal(next.stats.fallbacks, 2);
    assert.equal(old.stats.fallbacks, 1);
  });
});
