import assert from 'node:assert/strict';
import {
  ClientAbortedError,
  InstanceSaturatedError,
  InternalError,
  ProtocolNotSupportedError,
  UpstreamConnectError,
  UpstreamStatusError,
  UpstreamStreamError,
  UpstreamTimeoutError,
} from '../../lib/errors.ts';
import type { GatewayError } from '../../lib/errors.ts';
import type { AccessRecord } from '../../lib/observe/access-log.ts';
import type { AttemptResult } from '../../lib/pipeline/attempt.ts';
import { settle } from '../../lib/pipeline/settle.ts';
import { buildRoute } from '../support/pipeline-harness.ts';
import type { TestRoute } from '../support/pipeline-harness.ts';
import { createManualClock } from '../support/manual-clock.ts';
import type { ManualClock } from '../support/manual-clock.ts';

// settle applies one attempt's result: to the access record, and to the instance (counters, breaker).
// The breaker opens on a single failure here, so "counts against the instance" is visible at once.

const policy = { on429: true, on5xx: true, statuses: [], rateLimitAware: false };
const RESET_MS = 1000;

let clock: ManualClock;
let test: TestRoute;

describe('settle', () => {
  beforeEach(() => {
    clock = createManualClock(1_000_000);
    test = buildRoute(
      {
        breaker: { failure_threshold: 1, window_ms: 60_000, reset_timeout_ms: RESET_MS },
        instances: [{ name: 'a', provider: 'openai', auth: { header: { Authorization: 'Bearer sk-a-0123456789' } } }],
      },
      { clock },
    );
  });
  afterEach(() => test.close());

  const flush = () => new Promise((resolve) => setImmediate(resolve));

  function record(): AccessRecord {
    return { route: 'r1', method: 'POST', path: '/v1/chat/completions', client_ip: '127.0.0.1', status: 0, request_type: 'ai_chat', client_protocol: 'openai-chat', attempts: [], fallbacks: 0, duration_ms: 0 };
  }

  function result(kind: AttemptResult['kind'], status: number, error?: GatewayError, more: Partial<AttemptResult> = {}): AttemptResult {
    return {
      kind,
      instance: 'a',
      upstreamProtocol: 'openai-chat',
      status,
      durationMs: 12.5,
      reason: error?.message,
      error,
      model: 'gpt-x',
      usage: undefined,
      ttftMs: undefined,
      latencyMs: undefined,
      text: undefined,
      relay: undefined,
      ...more,
    };
  }

  const status = (code: number, headers: Record<string, string> = {}) =>
    new UpstreamStatusError('a', code, Buffer.from(JSON.stringify({ error: { message: `said ${code}` } })), headers);

  async function apply(r: AttemptResult, rec = record()) {
    const instance = test.instance('a');
    const verdict = settle(rec, instance, r, policy, test.log);
    await flush();
    return { verdict, rec, instance, breaker: instance.breaker.state() };
  }

  const against: Array<[string, GatewayError]> = [
    ['a 429', status(429)],
    ['a 500', status(500)],
    ['a 503', status(503)],
    ['a timeout', new UpstreamTimeoutError('a', 30_000)],
    ['a refused connection', new UpstreamConnectError('a', Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }))],
    ['an in-band stream error', new UpstreamStreamError('a', 'overloaded_error in the stream')],
  ];
  for (const [what, error] of against) {
    it(`counts ${what} against the instance: failure counted, breaker opened, another instance may be tried`, async () => {
      const { verdict, instance, breaker } = await apply(result('failed', error.status, error));
      assert.equal(instance.stats.failures, 1);
      assert.ok(instance.stats.lastError?.reason);
      assert.equal(breaker, 'open');
      assert.equal(verdict?.retryable, true);
      assert.equal(verdict.countsAsFailure, true);
    });
  }

  const notAbout: Array<[string, GatewayError]> = [
    ['the client leaving', new ClientAbortedError()],
    ['a request the provider cannot express', new ProtocolNotSupportedError('no tools on this provider')],
    ["the gateway's own bug", new InternalError('converter failed', new TypeError('x'))],
    ['our own max_concurrency queue being full', new InstanceSaturatedError('a', 30_000)],
  ];
  for (const [what, error] of notAbout) {
    it(`does not hold ${what} against the instance, nor count it as a call`, async () => {
      const { instance, breaker } = await apply(result('failed', error.status, error));
      assert.equal(instance.stats.failures, 0);
      assert.equal(instance.stats.lastError, undefined);
      assert.equal(breaker, 'closed');
      clock.advance(2000); // past the batching of successes
      await flush();
      assert.equal(instance.breaker.snapshot().callsInWindow, 0);
    });
  }

  it("logs the gateway's own bug at error level with its cause, and not the others", async () => {
    await apply(result('failed', 500, new InternalError('converter failed', new TypeError('the cause'))));
    await apply(result('failed', 400, new ProtocolNotSupportedError('no tools')));
    const errors = test.lines.filter((l) => l.level >= 50);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.msg, 'converter failed');
    assert.match(JSON.stringify(errors[0]), /the cause/);
  });

  it('does not fall back after the client left, nor after a client-side error', async () => {
    assert.equal((await apply(result('failed', 499, new ClientAbortedError()))).verdict, undefined);
    const bad = await apply(result('failed', 400, status(400)));
    assert.equal(bad.verdict?.retryable, false);
  });

  it('counts a 400 as an answer: a call in the window, no failure, the breaker closed', async () => {
    const { instance, breaker } = await apply(result('failed', 400, status(400)));
    assert.equal(instance.stats.failures, 0);
    assert.equal(breaker, 'closed');
    clock.advance(2000);
    await flush();
    assert.deepEqual([instance.breaker.snapshot().callsInWindow, instance.breaker.snapshot().failuresInWindow], [1, 0]);
  });

  it('holds a 429 instance out for its Retry-After when that is longer than the reset timeout', async () => {
    const { instance } = await apply(result('failed', 429, status(429, { 'retry-after': '30' })));
    assert.equal(instance.breaker.waitMs(), 30_000);
  });

  it('records a success: status, model, tokens, ttft, and the instance counters', async () => {
    const usage = { prompt_tokens: 10, completion_tokens: 4, total_tokens: 14, cached_tokens: 2 };
    const { verdict, rec, instance } = await apply(result('responded', 200, undefined, { usage, ttftMs: 80, latencyMs: 95, model: 'gpt-answered' }));
    assert.equal(verdict, undefined);
    assert.equal(rec.status, 200);
    assert.equal(rec.instance, 'a');
    assert.equal(rec.upstream_protocol, 'openai-chat');
    assert.equal(rec.llm_model, 'gpt-answered');
    assert.deepEqual([rec.prompt_tokens, rec.completion_tokens, rec.total_tokens, rec.cached_tokens], [10, 4, 14, 2]);
    assert.equal(rec.ttft_ms, 80);
    assert.deepEqual(rec.attempts, [{ instance: 'a', status: 200, duration_ms: 12.5 }]);
    assert.deepEqual([instance.stats.promptTokens, instance.stats.completionTokens, instance.stats.latencyEwmaMs], [10, 4, 95]);
  });

  it('counts a stream that broke after its commit point against the instance, without a fallback', async () => {
    const error = new UpstreamStreamError('a', 'stream from instance a broke after 300 bytes: socket reset');
    const { verdict, rec, instance, breaker } = await apply(result('responded', 200, error));
    assert.equal(verdict, undefined, 'the client already has part of the answer');
    assert.equal(rec.status, 200);
    assert.equal(rec.error, error.message);
    assert.equal(instance.stats.failures, 1);
    assert.equal(breaker, 'open');
  });

  it('records a client that left mid-stream as 499 without an error, and does not hold it against the instance', async () => {
    const { rec, instance } = await apply(result('responded', 499, new ClientAbortedError()));
    assert.equal(rec.status, 499);
    assert.equal(rec.error, undefined);
    assert.equal(instance.stats.failures, 0);
  });

  it('adds each attempt to the same record: failed ones leave the status to the final answer', async () => {
    const rec = record();
    await apply(result('failed', 503, status(503)), rec);
    assert.equal(rec.status, 0);
    await apply(result('responded', 200, undefined), rec);
    assert.deepEqual(rec.attempts.map((a) => [a.status, a.reason]), [[503, 'instance a returned 503'], [200, undefined]]);
    assert.equal(rec.status, 200);
  });

  describe('the half-open trial', () => {
    async function inTrial() {
      await apply(result('failed', 503, status(503)));
      clock.advance(RESET_MS);
      const breaker = test.instance('a').breaker;
      assert.equal(breaker.allows(), false, 'asks for the trial lease first');
      await breaker.trialDecision();
      assert.equal(breaker.allows(), true);
      breaker.onDispatch();
      assert.equal(breaker.allows(), false, 'one trial at a time');
      return breaker;
    }

    it('closes the breaker when the trial is answered', async () => {
      await inTrial();
      assert.equal((await apply(result('responded', 200))).breaker, 'closed');
    });

    it('re-opens it when the trial fails', async () => {
      await inTrial();
      assert.equal((await apply(result('failed', 503, status(503)))).breaker, 'open');
    });

    it('gives the trial to the next request when this one told nothing about the instance', async () => {
      const breaker = await inTrial();
      await apply(result('failed', 499, new ClientAbortedError()));
      assert.equal(breaker.state(), 'half_open');
      assert.equal(breaker.allows(), true, 'another request may be the trial');
    });
  });
});
