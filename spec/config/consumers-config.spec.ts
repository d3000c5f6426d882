import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { ConfigError } from '../../lib/errors.ts';
import { loadConfigText } from '../../lib/load-config.ts';

// consumers[], route `auth` and the ai-rate-limiting plugin: what loads, what it means, what is refused.
const instances = [{ name: 'a', provider: 'openai' }, { name: 'b', provider: 'deepseek' }];
const route = (extra: Record<string, unknown> = {}, plugins: Record<string, unknown> = {}) => ({
  id: 'chat',
  uri: '/v1/chat/completions',
  plugins: { 'ai-proxy-multi': { instances }, ...plugins },
  ...extra,
});
const load = (cfg: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => loadConfigText(JSON.stringify(cfg), env);
const problems = (cfg: Record<string, unknown>): string[] => {
  try {
    load(cfg);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.path}: ${p.message}`);
    throw err;
  }
  return [];
};

describe('consumers and limits in the config', () => {
  it('keeps only digests of the keys, hashing plain and ${VAR} keys at load', () => {
    const digest = createHash('sha256').update('ck-from-env-0000000001').digest('hex');
    const cfg = load({ consumers: [{ name: 'app', keys: ['${APP_KEY}', `sha256:${'AB'.repeat(32)}`] }], routes: [route()] }, { APP_KEY: 'ck-from-env-0000000001' });
    assert.deepEqual(cfg.consumers[0]?.key_digests, [digest, 'ab'.repeat(32)]);
    assert.ok(!JSON.stringify(cfg).includes('ck-from-env-0000000001'), 'the plain key is not kept');
  });

  it('defaults a route to auth "optional" with consumers and "none" without', () => {
    assert.equal(load({ consumers: [{ name: 'app', keys: ['ck-0123456789abcdef'] }], routes: [route()] }).routes[0]?.auth, 'optional');
    assert.equal(load({ routes: [route()] }).routes[0]?.auth, 'none');
  });

  it('normalises ai-rate-limiting with APISIX\'s fields and our 429 default', () => {
    const cfg = load({
      routes: [route({}, { 'ai-rate-limiting': { limit: 100, time_window: 60, instances: [{ name: 'a', limit: 10, time_window: 30 }], rules: [{ count: 5, time_window: 10, key: '$remote_addr' }] } })],
    });
    assert.deepEqual(cfg.routes[0]?.rate_limiting, {
      route: { limit: 100, time_window: 60 },
      limit_strategy: 'total_tokens',
      instances: [{ name: 'a', limit: 10, time_window: 30 }],
      rules: [{ limit: 5, time_window: 10, key: '$remote_addr' }],
      show_limit_quota_header: true,
      rejected_code: 429,
    });
  });

  it('refuses duplicate names and keys, bad digests, and a required route without consumers, each at its path', () => {
    assert.deepEqual(problems({
      consumers: [
        { name: 'app', keys: ['ck-shared-key-0000001'] },
        { name: 'app', keys: ['ck-shared-key-0000001', 'sha256:abcdefabcdefabcdef'] },
      ],
      routes: [route()],
    }), [
      '/consumers/1/name: "app" is already the name of /consumers/0',
      '/consumers/1/keys/0: is already a key of /consumers/0',
      '/consumers/1/keys/1: must be "sha256:" followed by 64 hex digits',
    ]);
    assert.deepEqual(problems({ routes: [route({ auth: 'required' })] }), [
      '/routes/0/auth: is "required" but no consumers are configured: every request would be refused',
    ]);
  });

  it('refuses an ai-rate-limiting block that limits nothing or names an unknown instance', () => {
    assert.deepEqual(problems({ routes: [route({}, { 'ai-rate-limiting': {} })] }), [
      '/routes/0/plugins/ai-rate-limiting: needs "limit" with "time_window", "instances" or "rules"',
    ]);
    assert.deepEqual(problems({ routes: [route({}, { 'ai-rate-limiting': { instances: [{ name: 'c', limit: 1, time_window: 1 }] } })] }), [
      '/routes/0/plugins/ai-rate-limiting/instances/0/name: "c" is not an instance of this route',
    ]);
    assert.ok(problems({ routes: [route({}, { 'ai-rate-limiting': { limit: 10 } })] }).some((p) => p.includes('time_window')));
  });

  it('never lets a consumer key be forwarded: such a route defaults to auth "none", and an explicit auth is refused', () => {
    const forwarding = (extra: Record<string, unknown> = {}) => ({
      id: 'byok',
      uri: '/v1/chat/completions',
      plugins: { 'ai-proxy-multi': { instances, forward_client_credentials: true } },
      ...extra,
    });
    const consumers = [{ name: 'app', keys: ['ck-0123456789abcdef'] }];
    assert.equal(load({ consumers, routes: [forwarding()] }).routes[0]?.auth, 'none');
    assert.deepEqual(problems({ consumers, routes: [forwarding({ auth: 'required' })] }), [
      '/routes/0/auth: is "required" but the route forwards client credentials: consumer keys would reach the provider',
    ]);
  });

    it('accepts $consumer_name in route vars', () => {
    assert.deepEqual(problems({ routes: [route({ vars: [['consumer_name', '==', 'app']] })] }), []);
  });
});
