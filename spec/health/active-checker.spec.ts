import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import type { ActiveCheckConfig } from '../../lib/config/types.ts';
import { createActiveChecker } from '../../lib/health/active-checker.ts';
import type { ActiveChecker } from '../../lib/health/active-checker.ts';
import type { ProbeResult } from '../../lib/health/probe.ts';
import { createLogger } from '../../lib/observe/logger.ts';
import type { Logger } from '../../lib/observe/logger.ts';
import { createMemoryState, createMemoryStore } from '../../lib/state/memory-store.ts';
import type { Clock, StateStore } from '../../lib/state/state-store.ts';
import { createManualClock } from '../support/manual-clock.ts';
import type { ManualClock } from '../support/manual-clock.ts';

/** Replicas on one in-process "Redis": memory stores sharing their maps, each with its own replicaId. */
function createFleet(clock: Clock): (replicaId: string) => StateStore {
  const state = createMemoryState();
  return (replicaId) => createMemoryStore({ clock, replicaId, state });
}

// ---- helpers ----

const ok: ProbeResult = { kind: 'http', status: 200 };
const err500: ProbeResult = { kind: 'http', status: 500 };
const timeout: ProbeResult = { kind: 'timeout' };
const refused: ProbeResult = { kind: 'tcp_failure', code: 'ECONNREFUSED' };

function activeCheck(over: { healthy?: Partial<ActiveCheckConfig['healthy']>; unhealthy?: Partial<ActiveCheckConfig['unhealthy']> } = {}): ActiveCheckConfig {
  return {
    type: 'http',
    timeout: 1,
    concurrency: 10,
    http_path: '/v1/models',
    http_method: 'GET',
    https_verify_certificate: true,
    req_headers: [],
    healthy: { interval: 1, http_statuses: [200], successes: 2, ...over.healthy },
    unhealthy: { interval: 1, http_statuses: [429, 500, 503], http_failures: 3, tcp_failures: 2, timeouts: 3, ...over.unhealthy },
  };
}

/** A probe whose answers the test scripts: queued ones first, then `next` forever; counts its calls. */
interface Scripted {
  calls: number;
  next: ProbeResult;
  queue: ProbeResult[];
  fn: () => Promise<ProbeResult>;
}

function scriptedProbe(next: ProbeResult = ok, queue: ProbeResult[] = []): Scripted {
  const s: Scripted = {
    calls: 0,
    next,
    queue,
    fn: async () => {
      s.calls++;
      return s.queue.shift() ?? s.next;
    },
  };
  return s;
}

function captureLog() {
  const lines: Array<{ level: number; msg: string } & Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]);
      done();
    },
  });
  return { log: createLogger('info', sink), lines };
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe('createActiveChecker', () => {
  let clock: ManualClock;
  let storeOf: (replicaId: string) => StateStore;
  let started: ActiveChecker[];

  /** Lets `ms` of clock time pass in steps, running the async work each tick starts. */
  async function elapse(ms: number, step = 100): Promise<void> {
    for (let t = 0; t < ms; t += step) {
      clock.advance(Math.min(step, ms - t));
      await settle();
    }
  }

  function checker(probe: Scripted, check = activeCheck(), opts: { replica?: string; store?: StateStore; log?: Logger } = {}) {
    const store = opts.store ?? storeOf(opts.replica ?? 'r1');
    const c = createActiveChecker({ key: 'chat/openai-a', check, probe: probe.fn, store, clock, log: opts.log ?? captureLog().log });
    started.push(c);
    c.start();
    return c;
  }

  /** A checker that turned healthy after its first two probes (successes: 2), at t0 and t0 + 1 s. */
  async function healthyChecker(probe: Scripted) {
    const c = checker(probe);
    await elapse(1000);
    assert.equal(c.healthy(), true);
    return c;
  }

  beforeEach(() => {
    clock = createManualClock(1_000_000);
    storeOf = createFleet(clock);
    started = [];
  });
  afterEach(() => Promise.all(started.map((c) => c.stop())));

  describe('thresholds', () => {
    it('has no verdict until healthy.successes probes in a row succeeded', async () => {
      const probe = scriptedProbe(ok);
      const c = checker(probe, activeCheck({ healthy: { successes: 3 } }));
      await elapse(1000);
      assert.equal(c.healthy(), undefined);
      await elapse(1000);
      assert.equal(c.healthy(), true);
      assert.equal(probe.calls, 3);
    });

    const failures: Array<[string, ProbeResult, number]> = [
      ['HTTP failures', err500, 3],
      ['timeouts', timeout, 3],
      ['TCP failures', refused, 2],
    ];
    for (const [label, result, threshold] of failures) {
      it(`marks the instance unhealthy after ${threshold} consecutive ${label}`, async () => {
        const probe = scriptedProbe(ok);
        const c = await healthyChecker(probe);
        probe.next = result;
        await elapse((threshold - 1) * 1000);
        assert.equal(c.healthy(), true);
        await elapse(1000);
        assert.equal(c.healthy(), false);
        assert.equal(c.snapshot().since, clock.now());
      });
    }

    it('recovers after healthy.successes successes in a row, a failure restarting the count', async () => {
      const probe = scriptedProbe(refused);
      const c = checker(probe);
      await elapse(1000);
      assert.equal(c.healthy(), false);
      probe.queue.push(ok, err500, ok);
      probe.next = ok;
      await elapse(3000);
      assert.equal(c.healthy(), false);
      await elapse(1000);
      assert.equal(c.healthy(), true);
    });
  });

  describe('intervals', () => {
    it('probes every healthy.interval while healthy and every unhealthy.interval while unhealthy', async () => {
      const probe = scriptedProbe(ok);
      const c = checker(probe, activeCheck({ healthy: { interval: 2, successes: 1 }, unhealthy: { interval: 5, http_failures: 1 } }));
      await elapse(10_000); // probes at 0, 2, 4, 6, 8, 10 s
      assert.equal(probe.calls, 6);
      probe.next = err500;
      await elapse(12_000); // 12 s turns it unhealthy; then 17, 22
      assert.equal(c.healthy(), false);
      assert.equal(probe.calls, 9);
      probe.next = ok;
      await elapse(7000); // 27 s turns it healthy; then 29
      assert.equal(c.healthy(), true);
      assert.equal(probe.calls, 11);
    });

    it('uses the other side\'s interval where APISIX would disable probing (interval 0)', async () => {
      const probe = scriptedProbe(ok);
      checker(probe, activeCheck({ healthy: { interval: 0 }, unhealthy: { interval: 3 } }));
      await elapse(9000);
      assert.equal(probe.calls, 4);
    });

    it('keeps re-publishing an unchanged verdict so the store never expires it', async () => {
      const probe = scriptedProbe(ok);
      const c = await healthyChecker(probe);
      // The entry lives 10 intervals + 60 s; without refreshes it would lapse (and come back) near 71 s.
      for (let s = 0; s < 200; s++) {
        await elapse(1000, 1000);
        assert.equal(c.healthy(), true, `verdict gone after ${s + 1} s`);
      }
    });
  });

  describe('across a fleet', () => {
    it('lets only one of two replicas sharing a store probe, once per interval', async () => {
      const a = scriptedProbe(ok);
      const b = scriptedProbe(ok);
      checker(a, activeCheck(), { replica: 'a' });
      checker(b, activeCheck(), { replica: 'b' });
      await elapse(10_000);
      assert.equal(a.calls + b.calls, 11);
      assert.equal(Math.min(a.calls, b.calls), 0);
    });

    it('shows the prober\'s verdict to the replica that does not probe', async () => {
      const a = scriptedProbe(ok);
      const b = scriptedProbe(ok);
      const ca = checker(a, activeCheck(), { replica: 'a' });
      const cb = checker(b, activeCheck(), { replica: 'b' });
      a.next = err500;
      await elapse(2000);
      assert.equal(b.calls, 0);
      assert.equal(cb.healthy(), false);
      assert.deepEqual(
        [cb.snapshot().prober, cb.snapshot().probing, ca.snapshot().probing],
        ['a', false, true],
      );
    });

    it('hands over at the other replica\'s next tick when the prober stops', async () => {
      const a = scriptedProbe(ok);
      const b = scriptedProbe(ok);
      const ca = checker(a, activeCheck(), { replica: 'a' });
      checker(b, activeCheck(), { replica: 'b' });
      await elapse(2500);
      await ca.stop();
      await elapse(500);
      assert.equal(b.calls, 1);
      assert.equal(a.calls, 3);
    });

    it('takes over from a prober that died once its lease expires, keeping its verdict', async () => {
      const a = scriptedProbe(err500);
      const b = scriptedProbe(ok);
      // A dead replica releases nothing: its lease has to run out (ttl 1.5 × 1 s + 500 ms).
      const dying = { ...storeOf('a'), releaseLease: async () => undefined };
      const ca = checker(a, activeCheck(), { store: dying });
      const cb = checker(b, activeCheck(), { replica: 'b' });
      await elapse(2500); // a probed at 0, 1, 2 s: unhealthy; its lease runs to 4 s
      await ca.stop();
      assert.equal(cb.healthy(), false);
      await elapse(1400);
      assert.equal(b.calls, 0);
      await elapse(100);
      assert.equal(b.calls, 1);
      assert.equal(cb.healthy(), false, 'one success is not enough to recover');
      await elapse(1000);
      assert.equal(cb.healthy(), true);
      assert.equal(cb.snapshot().prober, 'b');
    });
  });

  it('aborts a running probe on stop, publishes nothing after it and frees the lease', async () => {
    let calls = 0;
    let aborted = false;
    const c = createActiveChecker({
      key: 'chat/openai-a',
      check: activeCheck(),
      probe: (signal) =>
        new Promise<ProbeResult>((_resolve, reject) => {
          calls++;
          signal.addEventListener('abort', () => {
            aborted = true;
            reject(new Error('aborted'));
          });
        }),
      store: storeOf('r1'),
      clock,
      log: captureLog().log,
    });
    c.start();
    await settle();
    assert.equal(calls, 1);
    await c.stop();
    assert.equal(aborted, true);
    await elapse(5000);
    assert.equal(calls, 1);
    assert.equal(c.healthy(), undefined);
    assert.equal(clock.pending(), 0, 'no timer left behind');
    assert.equal(await storeOf('other').acquireLease('probe:chat/openai-a', 1000), true, 'the lease was released');
  });

  it('warns when the instance turns unhealthy and logs at info when it recovers', async () => {
    const prober = captureLog();
    const other = captureLog();
    const a = scriptedProbe(ok);
    checker(a, activeCheck(), { replica: 'a', log: prober.log });
    checker(scriptedProbe(ok), activeCheck(), { replica: 'b', log: other.log });
    await elapse(1000);
    a.next = err500;
    await elapse(3000);
    a.next = ok;
    await elapse(2000);
    const seen = prober.lines.map((l) => [l.level, l.msg]);
    assert.deepEqual(seen, [
      [40, 'active check: chat/openai-a is unhealthy (3 consecutive HTTP failures)'],
      [30, 'active check: chat/openai-a is healthy again (2 consecutive successes)'],
    ]);
    assert.deepEqual(other.lines, [], 'only the prober logs the change');
  });
});
