import assert from 'node:assert/strict';
import { loadConfigText } from '../../lib/load-config.ts';
import type { FallbackPolicy } from '../../lib/config/types.ts';
import type { GatewayError } from '../../lib/errors.ts';
import { UpstreamConnectError, UpstreamStatusError, UpstreamStreamError, UpstreamTimeoutError } from '../../lib/errors.ts';
import { classifyOutcome, retryAfterSeconds, retryHintSeconds, upstreamReason } from '../../lib/pipeline/classify-outcome.ts';
import type { JsonObject } from '../../lib/protocols/types.ts';
import { ClientAbortedError } from '../../lib/errors.ts';

/** The fallback policy the real loader derives from a plugin block. */
function policy(plugin: JsonObject): FallbackPolicy {
  const text = JSON.stringify({
    routes: [{ id: 'r', uri: '/*', plugins: { 'ai-proxy-multi': { ...plugin, instances: [{ name: 'a', provider: 'openai' }] } } }],
  });
  const route = loadConfigText(text, {}).routes[0];
  assert.ok(route);
  return route.plugin.fallback;
}

const policies = {
  default: policy({}),
  'only http_5xx': policy({ fallback_strategy: ['http_5xx'] }),
  'only http_429': policy({ fallback_strategy: 'http_429' }),
  'fallback_http_statuses [404]': policy({ fallback_http_statuses: [404] }),
};
type PolicyName = keyof typeof policies;

const status = (code: number) => new UpstreamStatusError('openai-a', code, Buffer.from('{}'), {});
const connectError = () => new UpstreamConnectError('openai-a', Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }));

// retryable per policy, in the order of `policies`.
const table: Array<{
  outcome: string;
  error: () => GatewayError;
  retryable: [boolean, boolean, boolean, boolean];
  countsAsFailure: boolean;
  status: number;
}> = [
  { outcome: 'HTTP 429', error: () => status(429), retryable: [true, false, true, true], countsAsFailure: true, status: 429 },
  { outcome: 'HTTP 500', error: () => status(500), retryable: [true, true, false, true], countsAsFailure: true, status: 500 },
  { outcome: 'HTTP 503', error: () => status(503), retryable: [true, true, false, true], countsAsFailure: true, status: 503 },
  { outcome: 'HTTP 400', error: () => status(400), retryable: [false, false, false, false], countsAsFailure: false, status: 400 },
  { outcome: 'HTTP 404', error: () => status(404), retryable: [false, false, false, true], countsAsFailure: false, status: 404 },
  { outcome: 'a connection error', error: connectError, retryable: [true, true, false, true], countsAsFailure: true, status: 502 },
  {
    outcome: 'a timeout',
    error: () => new UpstreamTimeoutError('openai-a', 30_000),
    retryable: [true, true, false, true],
    countsAsFailure: true,
    status: 504,
  },
  {
    outcome: 'an in-band stream error',
    error: () => new UpstreamStreamError('openai-a', 'overloaded'),
    retryable: [true, true, false, true],
    countsAsFailure: true,
    status: 502,
  },
  {
    outcome: 'a client abort',
    error: () => new ClientAbortedError(),
    retryable: [false, false, false, false],
    countsAsFailure: false,
    status: 499,
  },
];

describe('classifyOutcome', () => {
  const names = Object.keys(policies) as PolicyName[];
  for (const row of table) {
    names.forEach((name, i) => {
      const retryable = row.retryable[i];
      it(`${retryable ? 'falls back' : 'does not fall back'} on ${row.outcome} under the ${name} policy${
        row.countsAsFailure ? ', counting it against the instance' : ' and does not blame the instance'
      }`, () => {
        const c = classifyOutcome(row.error(), policies[name]);
        assert.deepEqual(
          { retryable: c.retryable, countsAsFailure: c.countsAsFailure, status: c.status },
          { retryable, countsAsFailure: row.countsAsFailure, status: row.status },
        );
      });
    });
  }

  it('marks only a timeout as timed out', () => {
    for (const row of table) {
      assert.equal(classifyOutcome(row.error(), policies.default).timedOut, row.outcome === 'a timeout', row.outcome);
    }
  });

  it("gives an HTTP failure a reason with the status and the provider's message, and its Retry-After", () => {
    const body = Buffer.from(JSON.stringify({ error: { message: 'Rate limit reached for gpt-4o', type: 'requests' } }));
    const c = classifyOutcome(new UpstreamStatusError('openai-a', 429, body, { 'retry-after': '7' }), policies.default);
    assert.equal(c.reason, 'HTTP 429: Rate limit reached for gpt-4o');
    assert.equal(c.retryAfterSec, 7);
  });

  it('gives an HTTP failure whose body says nothing just the status as reason', () => {
    const c = classifyOutcome(new UpstreamStatusError('openai-a', 502, Buffer.from('<html>Bad Gateway</html>'), {}), policies.default);
    assert.equal(c.reason, 'HTTP 502');
    assert.equal(c.retryAfterSec, undefined);
  });

  it('names the instance and the cause in the reason of a connection error', () => {
    assert.match(classifyOutcome(connectError(), policies.default).reason, /openai-a .*ECONNREFUSED/);
  });
});

describe('retryAfterSeconds', () => {
  const now = Date.parse('2025-07-01T12:00:00Z');
  const cases: Array<[string, Record<string, string>, number | undefined]> = [
    ['whole seconds', { 'retry-after': '30' }, 30],
    ['fractional seconds, rounded up', { 'retry-after': '1.2' }, 2],
    ['an HTTP date in the future', { 'retry-after': 'Tue, 01 Jul 2025 12:00:45 GMT' }, 45],
    ['an HTTP date in the past, as zero', { 'retry-after': 'Tue, 01 Jul 2025 11:59:00 GMT' }, 0],
    ['retry-after-ms before retry-after, rounded up to seconds', { 'retry-after-ms': '1500', 'retry-after': '30' }, 2],
    ['an unparseable retry-after-ms by falling back to retry-after', { 'retry-after-ms': 'soon', 'retry-after': '4' }, 4],
    ['garbage as no hint', { 'retry-after': 'later please' }, undefined],
    ['no header as no hint', {}, undefined],
  ];
  for (const [what, headers, expected] of cases) {
    it(`reads ${what}`, () => {
      assert.equal(retryAfterSeconds(headers, now), expected);
    });
  }

  // Neither delay-seconds nor an HTTP-date (RFC 9110 10.2.3): V8's lenient Date.parse would read "-5" as
  // 2001-05-01 and "soon 2030" as 2030-01-01.
  const notHttpDates: Array<[string, string]> = [
    ['a negative number', '-5'],
    ['text that merely contains a year', 'soon 2030'],
  ];
  for (const [what, value] of notHttpDates) {
    it(`reads ${what} as no hint`, () => {
      assert.equal(retryAfterSeconds({ 'retry-after': value }, now), undefined);
    });
  }
});

describe('upstreamReason', () => {
  const cases: Array<[string, string, string]> = [
    ['the message of an OpenAI error body', '{"error":{"message":"Invalid API key","type":"invalid_request_error"}}', 'Invalid API key'],
    ['the message of a {message} body', '{"message":"Too many tokens, please wait"}', 'Too many tokens, please wait'],
    ['an error given as a plain string', '{"error":"upstream overloaded"}', 'upstream overloaded'],
    ['nothing from a non-JSON body', '<html><body>502 Bad Gateway</body></html>', ''],
    ['nothing from JSON without a message', '{"detail":{"code":7}}', ''],
  ];
  for (const [what, body, expected] of cases) {
    it(`takes ${what}`, () => {
      assert.equal(upstreamReason(Buffer.from(body)), expected);
    });
  }

  it('cuts a long message to 200 characters and marks the cut', () => {
    const long = 'x'.repeat(5000);
    const reason = upstreamReason(Buffer.from(JSON.stringify({ error: { message: long } })));
    assert.equal(reason, `${'x'.repeat(200)}…`);
  });

  it('keeps a message of exactly 200 characters whole', () => {
    const exact = 'y'.repeat(200);
    assert.equal(upstreamReason(Buffer.from(JSON.stringify({ message: exact }))), exact);
  });
});

describe('retryHintSeconds: a 429 body\'s own wait, when no header gives one', () => {
  const body = (x: unknown) => Buffer.from(JSON.stringify(x));
  it('reads OpenAI\'s "try again in" and Google\'s RetryInfo, rounded up to seconds', () => {
    const openai = (message: string) => body({ error: { message, type: 'requests', code: 'rate_limit_exceeded' } });
    assert.equal(retryHintSeconds(openai('Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, Used 3. Please try again in 20s.')), 20);
    assert.equal(retryHintSeconds(openai('… Please try again in 6.5s. Visit https://platform.openai.com/account/rate-limits')), 7);
    assert.equal(retryHintSeconds(openai('… Please try again in 1m12s.')), 72);
    assert.equal(retryHintSeconds(openai('… Please try again in 20ms.')), 1);
    const google = body({ error: { code: 429, status: 'RESOURCE_EXHAUSTED', details: [{ '@type': 'type.googleapis.com/google.rpc.QuotaFailure' }, { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '37s' }] } });
    assert.equal(retryHintSeconds(google), 37);
  });

  it('finds no hint in other bodies, and caps one at an hour', () => {
    assert.equal(retryHintSeconds(body({ error: { message: 'You exceeded your current quota, please check your plan and billing details.' } })), undefined);
    assert.equal(retryHintSeconds(Buffer.from('not json')), undefined);
    assert.equal(retryHintSeconds(body({ error: { message: 'try again in 30h0m0s' } })), 3600);
  });

  it('is used for a 429 without Retry-After, and never over the header', () => {
    const hinted = Buffer.from(JSON.stringify({ error: { message: 'Please try again in 3s.' } }));
    assert.equal(classifyOutcome(new UpstreamStatusError('a', 429, hinted, {}), policies.default).retryAfterSec, 3);
    assert.equal(classifyOutcome(new UpstreamStatusError('a', 429, hinted, { 'retry-after': '9' }), policies.default).retryAfterSec, 9);
    assert.equal(classifyOutcome(new UpstreamStatusError('a', 503, hinted, {}), policies.default).retryAfterSec, undefined);
  });
});
