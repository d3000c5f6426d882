import assert from 'node:assert/strict';
import { createHashKeyExtractor, type HashRequest } from '../../lib/balancer/hash-key.ts';
import { cookieValue } from '../../lib/balancer/request-vars.ts';

function request(overrides: Partial<HashRequest> = {}): HashRequest {
  return {
    path: '/v1/chat/completions',
    query: new URLSearchParams('user=alice&tier=gold&tier=silver'),
    headers: {
      host: 'Gateway.Example.com:9080',
      'x-user-id': 'u-42',
      cookie: 'theme=dark; session="s-99"; empty=',
    },
    remoteAddr: '10.0.0.7',
    consumer: 'team-a',
    method: 'POST',
    ...overrides,
  };
}

describe('createHashKeyExtractor', () => {
  describe("hash_on 'vars'", () => {
    const cases: Array<[string, string]> = [
      ['uri', '/v1/chat/completions'],
      ['request_uri', '/v1/chat/completions?user=alice&tier=gold&tier=silver'],
      ['query_string', 'user=alice&tier=gold&tier=silver'],
      ['host', 'gateway.example.com'],
      ['remote_addr', '10.0.0.7'],
      ['request_method', 'POST'],
      ['consumer_name', 'team-a'],
      ['arg_user', 'alice'],
      ['arg_tier', 'gold'],
      ['http_x_user_id', 'u-42'],
      ['cookie_theme', 'dark'],
    ];
    for (const [name, expected] of cases) {
      it(`reads $${name} as ${expected}`, () => {
        assert.equal(createHashKeyExtractor('vars', name)(request()), expected);
      });
    }

    it('reads query arguments from a plain object as well as URLSearchParams', () => {
      const extract = createHashKeyExtractor('vars', 'arg_user');
      assert.equal(extract(request({ query: { user: ['bob', 'carol'] } })), 'bob');
      assert.equal(extract(request({ query: { user: 'dave' } })), 'dave');
    });

    it('prefers the request host over the Host header and strips the port of an IPv6 host', () => {
      const extract = createHashKeyExtractor('vars', 'host');
      assert.equal(extract(request({ host: 'api.example.org' })), 'api.example.org');
      assert.equal(extract(request({ headers: { host: '[::1]:9080' } })), '[::1]');
    });

    it('falls back to remote_addr for a missing argument or an unknown variable', () => {
      assert.equal(createHashKeyExtractor('vars', 'arg_missing')(request()), '10.0.0.7');
      assert.equal(createHashKeyExtractor('vars', 'no_such_var')(request()), '10.0.0.7');
    });
  });

  describe("hash_on 'header'", () => {
    it('reads the header whatever the case of the configured name and of the request header', () => {
      assert.equal(createHashKeyExtractor('header', 'X-User-Id')(request()), 'u-42');
      assert.equal(createHashKeyExtractor('header', 'x_user_id')(request()), 'u-42');
      const mixedCase = request({ headers: { 'X-USER-ID': 'u-7' } });
      assert.equal(createHashKeyExtractor('header', 'x-user-id')(mixedCase), 'u-7');
    });

    it('joins a repeated header the way Node does', () => {
      const req = request({ headers: { 'x-user-id': ['u-1', 'u-2'] } });
      assert.equal(createHashKeyExtractor('header', 'x-user-id')(req), 'u-1, u-2');
    });

    it('falls back to remote_addr when the header is absent or empty', () => {
      assert.equal(createHashKeyExtractor('header', 'x-tenant')(request()), '10.0.0.7');
      const empty = request({ headers: { 'x-tenant': '' } });
      assert.equal(createHashKeyExtractor('header', 'x-tenant')(empty), '10.0.0.7');
    });
  });

  describe("hash_on 'cookie'", () => {
    it('reads one cookie, unquoting a quoted value', () => {
      assert.equal(createHashKeyExtractor('cookie', 'theme')(request()), 'dark');
      assert.equal(createHashKeyExtractor('cookie', 'session')(request()), 's-99');
    });

    it('falls back to remote_addr for an absent or empty cookie, or no Cookie header', () => {
      assert.equal(createHashKeyExtractor('cookie', 'missing')(request()), '10.0.0.7');
      assert.equal(createHashKeyExtractor('cookie', 'empty')(request()), '10.0.0.7');
      assert.equal(createHashKeyExtractor('cookie', 'theme')(request({ headers: {} })), '10.0.0.7');
    });
  });

  describe("hash_on 'consumer'", () => {
    it('uses the consumer name, or remote_addr for an anonymous request', () => {
      const extract = createHashKeyExtractor('consumer', '');
      assert.equal(extract(request()), 'team-a');
      assert.equal(extract(request({ consumer: undefined })), '10.0.0.7');
    });
  });

  describe("hash_on 'vars_combinations'", () => {
    it('expands each $var and ${var} in the template', () => {
      const extract = createHashKeyExtractor('vars_combinations', '$remote_addr-${arg_user}:$http_x_user_id');
      assert.equal(extract(request()), '10.0.0.7-alice:u-42');
    });

    it('expands a missing variable to nothing while others resolve', () => {
      const extract = createHashKeyExtractor('vars_combinations', '$arg_user/$arg_missing/$consumer_name');
      assert.equal(extract(request()), 'alice//team-a');
    });

    it('falls back to remote_addr when no variable resolves', () => {
      const extract = createHashKeyExtractor('vars_combinations', 'k:$arg_missing$cookie_missing');
      assert.equal(extract(request()), '10.0.0.7');
    });

    it('leaves an escaped \\$ unexpanded', () => {
      const extract = createHashKeyExtractor('vars_combinations', '\\$arg_user=$arg_user');
      assert.equal(extract(request()), '\\$arg_user=alice');
    });
  });
});

describe('cookieValue', () => {
  it('matches the whole cookie name, not a suffix or prefix of another', () => {
    const header = 'xid=1; id=2;idx=3';
    assert.equal(cookieValue(header, 'id'), '2');
    assert.equal(cookieValue(header, 'idx'), '3');
    assert.equal(cookieValue(header, 'i'), undefined);
  });
});
