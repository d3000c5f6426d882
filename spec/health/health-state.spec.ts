import assert from 'node:assert/strict';
import type { ActiveCheckConfig } from '../../lib/config/types.ts';
import { applyOutcome, classifyProbe, encodeVerdict, parseVerdict, zeroCounters } from '../../lib/health/health-state.ts';
import type { HealthCounters, ProbeOutcome } from '../../lib/health/health-state.ts';

const check: ActiveCheckConfig = {
  type: 'http',
  timeout: 1,
  concurrency: 10,
  http_path: '/v1/models',
  http_method: 'GET',
  https_verify_certificate: true,
  req_headers: [],
  healthy: { interval: 1, http_statuses: [200, 302], successes: 2 },
  unhealthy: { interval: 1, http_statuses: [429, 500, 503], http_failures: 3, tcp_failures: 2, timeouts: 3 },
};

/** Feeds outcomes in order from a verdict and returns the verdict after each one. */
function run(start: boolean | undefined, outcomes: ProbeOutcome[], cfg = check): Array<boolean | undefined> {
  let healthy = start;
  let counters: HealthCounters = zeroCounters();
  return outcomes.map((o) => {
    ({ healthy, counters } = applyOutcome(healthy, counters, o, cfg));
    return healthy;
  });
}

describe('classifyProbe', () => {
  const cases: Array<[string, Parameters<typeof classifyProbe>[0], ProbeOutcome]> = [
    ['a status in healthy.http_statuses', { kind: 'http', status: 302 }, 'success'],
    ['a status in unhealthy.http_statuses', { kind: 'http', status: 429 }, 'http_failure'],
    ['a status in neither list', { kind: 'http', status: 401 }, 'neutral'],
    ['a tcp connect', { kind: 'connected' }, 'success'],
    ['a timeout', { kind: 'timeout' }, 'timeout'],
    ['a refused connection', { kind: 'tcp_failure', code: 'ECONNREFUSED' }, 'tcp_failure'],
  ];
  for (const [label, result, outcome] of cases) {
    it(`counts ${label} as ${outcome}`, () => assert.equal(classifyProbe(result, check), outcome));
  }
});

describe('applyOutcome', () => {
  it('turns unhealthy at the third HTTP failure, and a success in between starts the count again', () => {
    assert.deepEqual(run(true, ['http_failure', 'http_failure', 'success', 'http_failure', 'http_failure', 'http_failure']), [
      true, true, true, true, true, false,
    ]);
  });

  it('ignores neutral statuses: they neither count nor reset the count', () => {
    assert.deepEqual(run(true, ['http_failure', 'neutral', 'http_failure', 'neutral', 'http_failure']), [
      true, true, true, true, false,
    ]);
    assert.deepEqual(run(false, ['success', 'neutral', 'success']), [false, false, true]);
  });

  it('counts each failure kind on its own: one kind must reach its own threshold', () => {
    const mixed = run(true, ['http_failure', 'timeout', 'http_failure', 'timeout', 'tcp_failure', 'http_failure']);
    assert.deepEqual(mixed, [true, true, true, true, true, false]);
  });

  it('recovers after healthy.successes successes in a row; a failure restarts that count', () => {
    assert.deepEqual(run(false, ['success', 'timeout', 'success', 'success']), [false, false, false, true]);
  });

  it('needs the same thresholds to reach a first verdict from unknown', () => {
    assert.deepEqual(run(undefined, ['success', 'success']), [undefined, true]);
    assert.deepEqual(run(undefined, ['tcp_failure', 'tcp_failure']), [undefined, false]);
  });

  it('never changes the verdict on a counter whose threshold is 0 (APISIX: disabled)', () => {
    const noTimeouts = { ...check, unhealthy: { ...check.unhealthy, timeouts: 0 } };
    assert.deepEqual(run(true, Array<ProbeOutcome>(10).fill('timeout'), noTimeouts).at(-1), true);
  });

  it('says why the verdict changed', () => {
    const step = applyOutcome(true, { ...zeroCounters(), tcp_failures: 1 }, 'tcp_failure', check);
    assert.deepEqual(step, { healthy: false, counters: zeroCounters(), reason: '2 consecutive TCP failures' });
  });
});

describe('verdict encoding', () => {
  it('reads back what it wrote, and nothing from an entry that is not a verdict', () => {
    const verdict = { healthy: false, since: 42, by: 'replica-a', counters: { ...zeroCounters(), timeouts: 2 } };
    assert.deepEqual(parseVerdict({ value: encodeVerdict(verdict), at: 42 }), verdict);
    assert.equal(parseVerdict({ value: { state: 'open' }, at: 1 }), undefined);
    assert.equal(parseVerdict(undefined), undefined);
  });
});
