import assert from 'node:assert/strict';
import { AllAttemptsFailedError } from '../../lib/errors.ts';
import { allAttemptsFailed } from '../../lib/pipeline/final-failure.ts';
import type { FailedAttempt } from '../../lib/pipeline/final-failure.ts';

function attempt(instance: string, status: number, extra: Partial<FailedAttempt> = {}): FailedAttempt {
  return { instance, status, reason: `HTTP ${status}`, retryAfterSec: undefined, timedOut: false, ...extra };
}
const timeout = (instance: string): FailedAttempt =>
  attempt(instance, 504, { reason: `instance ${instance} timed out after 30000 ms`, timedOut: true });

describe('allAttemptsFailed', () => {
  const cases: Array<{ when: string; attempts: FailedAttempt[]; status: number; headers: Record<string, string> }> = [
    {
      when: 'every attempt was a 429: 429 with the smallest Retry-After',
      attempts: [
        attempt('openai-a', 429, { retryAfterSec: 20 }),
        attempt('openai-b', 429, { retryAfterSec: 3 }),
        attempt('deepseek', 429, { retryAfterSec: 9 }),
      ],
      status: 429,
      headers: { 'retry-after': '3' },
    },
    {
      when: 'every attempt was a 429 and only some said when to retry: the smallest one given',
      attempts: [attempt('openai-a', 429), attempt('deepseek', 429, { retryAfterSec: 12 })],
      status: 429,
      headers: { 'retry-after': '12' },
    },
    {
      when: 'every attempt was a 429 without Retry-After: 429 and no Retry-After',
      attempts: [attempt('openai-a', 429), attempt('deepseek', 429)],
      status: 429,
      headers: {},
    },
    {
      when: 'every attempt timed out: 504',
      attempts: [timeout('openai-a'), timeout('deepseek')],
      status: 504,
      headers: {},
    },
    {
      when: 'a 429 and a 503: 502 without Retry-After',
      attempts: [attempt('openai-a', 429, { retryAfterSec: 5 }), attempt('deepseek', 503)],
      status: 502,
      headers: {},
    },
    {
      when: 'a timeout and a connection error: 502',
      attempts: [timeout('openai-a'), attempt('deepseek', 502, { reason: 'instance deepseek could not be reached (ECONNREFUSED)' })],
      status: 502,
      headers: {},
    },
    {
      when: 'a 500 and a 503: 502',
      attempts: [attempt('openai-a', 500), attempt('deepseek', 503)],
      status: 502,
      headers: {},
    },
  ];
  for (const { when, attempts, status, headers } of cases) {
    it(`answers ${when}`, () => {
      const err = allAttemptsFailed(attempts);
      assert.ok(err instanceof AllAttemptsFailedError);
      assert.equal(err.code, 'ALL_ATTEMPTS_FAILED');
      assert.equal(err.status, status);
      assert.deepEqual(err.headers, headers);
    });
  }

  it('lists every attempt in order with instance, status and reason only', () => {
    const err = allAttemptsFailed([
      attempt('openai-a', 429, { reason: 'HTTP 429: Rate limit reached', retryAfterSec: 4 }),
      timeout('deepseek'),
    ]);
    assert.deepEqual(err.attempts, [
      { instance: 'openai-a', status: 429, reason: 'HTTP 429: Rate limit reached' },
      { instance: 'deepseek', status: 504, reason: 'instance deepseek timed out after 30000 ms' },
    ]);
    assert.match(err.message, /^all 2 attempts failed \(openai-a: 429 HTTP 429: Rate limit reached; deepseek: 504 instance deepseek/);
  });

  it('keeps a Retry-After of zero seconds rather than dropping it', () => {
    const err = allAttemptsFailed([attempt('a', 429, { retryAfterSec: 0 }), attempt('b', 429, { retryAfterSec: 30 })]);
    assert.deepEqual(err.headers, { 'retry-after': '0' });
  });
});
