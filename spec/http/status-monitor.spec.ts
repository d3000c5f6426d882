import assert from 'node:assert/strict';
import type { AccessRecord } from '../../lib/observe/access-log.ts';
import { createStatusMonitor } from '../../lib/http/status-monitor.ts';
import type { StatusMonitor } from '../../lib/http/status-monitor.ts';
import { buildStatus } from '../../lib/http/status-report.ts';
import { createMemoryState, createMemoryStore } from '../../lib/state/memory-store.ts';
import type { MemoryStore } from '../../lib/state/memory-store.ts';
import { buildRoute } from '../support/pipeline-harness.ts';
import type { TestRoute } from '../support/pipeline-harness.ts';

// The status page's timeline and fleet view, with two replicas on one shared in-memory state (what
// two gateways on one Redis see, without the network).

const flush = () => new Promise((resolve) => setImmediate(resolve));
const plugin = {
  breaker: { failure_threshold: 1, window_ms: 60_000, reset_timeout_ms: 30_000 },
  instances: [
    { name: 'a', provider: 'openai', weight: 3, auth: { header: { Authorization: 'Bearer sk-a-0123456789abcdef' } } },
    { name: 'b', provider: 'openai', weight: 1, auth: { header: { Authorization: 'Bearer sk-b-0123456789abcdef' } } },
  ],
};

function record(more: Partial<AccessRecord>): AccessRecord {
  return { route: 'r1', method: 'POST', path: '/v1/chat/completions', client_ip: '127.0.0.1', status: 200, request_type: 'ai_chat', client_protocol: 'openai-chat', attempts: [], fallbacks: 0, duration_ms: 5, ...more };
}

describe('the status monitor', () => {
  let stores: MemoryStore[];
  let routes: TestRoute[];
  let monitors: StatusMonitor[];
  beforeEach(() => {
    const state = createMemoryState();
    stores = [createMemoryStore({ state, replicaId: 'replica-one' }), createMemoryStore({ state, replicaId: 'replica-two' })];
    routes = stores.map((store) => buildRoute(plugin, { store }));
    monitors = stores.map((store, i) => createStatusMonitor({ store, routes: () => [routes[i]!.route], capacity: 5, publishMs: 60_000 }));
  });
  afterEach(async () => {
    for (const m of monitors) m.stop();
    await Promise.all(routes.map((r) => r.close()));
  });

  it('puts a breaker opened on one replica in both timelines, once, with the replica that opened it', async () => {
    routes[1]!.instance('b').record({ kind: 'failed', reason: 'HTTP 503', retryAfterSec: undefined }, undefined, undefined);
    await flush();
    for (const m of monitors) {
      const opened = m.events().filter((e) => e.kind === 'breaker_opened');
      assert.equal(opened.length, 1);
      assert.equal(opened[0]?.instance, 'b');
      assert.equal(opened[0]?.by, 'replica-two');
      assert.ok((opened[0]?.until ?? 0) > Date.now() + 25_000, 'until the reset timeout');
    }
  });

  it('records fallbacks and failed requests, and other replicas take them from its report once', () => {
    monitors[1]!.observe(record({ attempts: [{ instance: 'a', status: 503, reason: 'HTTP 503', duration_ms: 1 }, { instance: 'b', status: 200, duration_ms: 1 }], fallbacks: 1 }));
    monitors[1]!.observe(record({ status: 502, error: 'every instance failed', attempts: [{ instance: 'a', status: 500, duration_ms: 1 }, { instance: 'b', status: 500, duration_ms: 1 }] }));
    monitors[1]!.observe(record({ attempts: [{ instance: 'a', status: 200, duration_ms: 1 }] }));
    const own = monitors[1]!.events().map((e) => e.kind).sort();
    assert.deepEqual(own, ['failed', 'fallback', 'fallback']);
    monitors[1]!.start();
    monitors[1]!.stop();
    monitors[1]!.start(); // publishes the same events again
    const theirs = monitors[0]!.events();
    assert.deepEqual(theirs.map((e) => e.kind).sort(), ['failed', 'fallback', 'fallback']);
    assert.ok(theirs.every((e) => e.by === 'replica-two'));
    assert.equal(theirs.find((e) => e.kind === 'fallback' && e.status === 503)?.to, 'b');
  });

  it('keeps only the newest events when the ring is full', () => {
    for (let i = 0; i < 8; i++) monitors[0]!.observe(record({ status: 500 + i, attempts: [{ instance: 'a', status: 500, duration_ms: 1 }] }));
    assert.deepEqual(monitors[0]!.events().map((e) => e.status).sort(), [503, 504, 505, 506, 507]);
  });

  it('lists every replica\'s report, this one first, and the status carries them scrubbed', () => {
    routes[1]!.instance('a').attemptStarted();
    routes[1]!.instance('a').record({ kind: 'failed', reason: 'HTTP 401: bad key sk-a-0123456789abcdef', retryAfterSec: undefined }, undefined, 40);
    monitors[1]!.start();
    monitors[0]!.observe(record({ status: 502, error: 'rejected sk-b-0123456789abcdef', attempts: [{ instance: 'b', status: 502, duration_ms: 1 }] }));
    const status = buildStatus([routes[0]!.route], stores[0]!, monitors[0]!);
    assert.deepEqual(status.fleet.map((r) => r.replica), ['replica-one', 'replica-two']);
    const theirs = status.fleet[1]?.routes['r1']?.['a'];
    assert.equal(theirs?.attempts, 1);
    assert.equal(theirs?.failures, 1);
    const text = JSON.stringify(status);
    assert.doesNotMatch(text, /sk-a-0123456789abcdef|sk-b-0123456789abcdef/, 'no credential in /status');
    assert.match(theirs?.last_error?.reason ?? '', /HTTP 401: bad key/);
    assert.equal(status.routes[0]?.instances[0]?.expected_share, 0.75);
  });
});
