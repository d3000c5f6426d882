import assert from 'node:assert/strict';
import { createRouteMatcher } from '../../lib/http/route-matcher.ts';
import type { RouteMatch } from '../../lib/http/route-matcher.ts';
import { loadConfigText } from '../../lib/load-config.ts';
import { createLogger } from '../../lib/observe/logger.ts';
import { SecretScrubber } from '../../lib/observe/secret-scrubber.ts';
import { createRouteRuntime } from '../../lib/pipeline/route-runtime.ts';
import { createMemoryStore } from '../../lib/state/memory-store.ts';
import { systemClock } from '../../lib/state/state-store.ts';
import { PoolRegistry } from '../../lib/transport/pool-registry.ts';

// Which route serves a request, from routes loaded as the gateway loads them (uris, methods and hosts
// normalised by the config loader).

const pools = new PoolRegistry();

describe('createRouteMatcher', () => {
  after(() => pools.destroy());

  type Extra = { query?: string; headers?: Record<string, string>; remoteAddr?: string };

  function matcher(routes: Array<Record<string, unknown>>): (method: string, host: string | undefined, path: string, extra?: Extra) => RouteMatch {
    const plugin = { 'ai-proxy-multi': { instances: [{ name: 'i', provider: 'openai', auth: { header: { Authorization: 'Bearer sk-x' } } }] } };
    const config = loadConfigText(JSON.stringify({ routes: routes.map((r) => ({ plugins: plugin, ...r })) }), {});
    const deps = { pools, store: createMemoryStore(), clock: systemClock, log: createLogger('silent'), scrubber: new SecretScrubber([]) };
    const match = createRouteMatcher(config.routes.map((r) => createRouteRuntime(r, deps)));
    return (method, host, path, extra = {}) =>
      match({
        path,
        query: new URLSearchParams(extra.query ?? ''),
        headers: { ...(host === undefined ? {} : { host }), ...extra.headers },
        remoteAddr: extra.remoteAddr ?? '10.0.0.1',
        host,
        method,
      });
  }

  /** The id of the route that serves the request, or what the client is told instead. */
  function served(match: RouteMatch, body?: unknown): string {
    if (match.kind === 'route') return match.route.config.id;
    if (match.kind === 'needs_body') return body === undefined ? 'needs body' : (match.resolve(body)?.config.id ?? '404');
    return match.kind === 'not_found' ? '404' : `405 Allow: ${match.allow.join(', ')}`;
  }

  describe('paths', () => {
    const match = matcher([
      { id: 'root', uri: '/*' },
      { id: 'chat', uri: '/v1/chat/completions' },
      { id: 'v1', uri: '/v1/*' },
      { id: 'openai', uri: '/v1/openai/*' },
      { id: 'all-v1', uri: '/v1/*' },
      { id: 'embeddings', uris: ['/v1/embeddings', '/embeddings'] },
    ]);
    const cases: Array<[string, string]> = [
      ['/v1/chat/completions', 'chat'],
      ['/v1/embeddings', 'embeddings'],
      ['/embeddings', 'embeddings'],
      ['/v1/chat/completions/extra', 'v1'],
      ['/v1/openai/chat/completions', 'openai'],
      ['/v1/files', 'v1'],
      ['/v1/', 'v1'],
      ['/v1', 'root'],
      ['/v2/models', 'root'],
    ];
    for (const [path, id] of cases) {
      it(`serves ${path} from route ${id}`, () => {
        assert.equal(served(match('POST', 'gw.local', path)), id);
      });
    }

    it('prefers an exact uri to any prefix, and the longest prefix to a shorter one, whatever the config order', () => {
      const reversed = matcher([
        { id: 'root', uri: '/*' },
        { id: 'v1', uri: '/v1/*' },
        { id: 'deep', uri: '/v1/openai/*' },
        { id: 'exact', uri: '/v1/openai/models' },
      ]);
      const forward = matcher([
        { id: 'exact', uri: '/v1/openai/models' },
        { id: 'deep', uri: '/v1/openai/*' },
        { id: 'v1', uri: '/v1/*' },
        { id: 'root', uri: '/*' },
      ]);
      for (const m of [reversed, forward]) {
        assert.equal(served(m('POST', undefined, '/v1/openai/models')), 'exact');
        assert.equal(served(m('POST', undefined, '/v1/openai/files')), 'deep');
        assert.equal(served(m('POST', undefined, '/v1/models')), 'v1');
        assert.equal(served(m('POST', undefined, '/health')), 'root');
      }
    });

    it('answers not found for a path no route covers', () => {
      const m = matcher([{ id: 'chat', uri: '/v1/chat/completions' }, { id: 'v1', uri: '/v1/*' }]);
      assert.equal(served(m('POST', undefined, '/v2/chat/completions')), '404');
      assert.equal(served(m('POST', undefined, '/')), '404');
      assert.equal(served(m('POST', undefined, '/v1')), '404');
    });
  });

  describe('methods', () => {
    it('answers 405 with the allowed methods when the path is served but not with this method', () => {
      const m = matcher([{ id: 'chat', uri: '/v1/chat/completions', methods: ['post', 'OPTIONS'] }]);
      assert.equal(served(m('POST', undefined, '/v1/chat/completions')), 'chat');
      assert.equal(served(m('GET', undefined, '/v1/chat/completions')), '405 Allow: POST, OPTIONS');
    });

    it('lets a route for the method serve the path when a more specific route takes other methods', () => {
      const m = matcher([
        { id: 'post-chat', uri: '/v1/chat/completions', methods: ['POST'] },
        { id: 'read-v1', uri: '/v1/*', methods: ['GET', 'HEAD'] },
      ]);
      assert.equal(served(m('GET', undefined, '/v1/chat/completions')), 'read-v1');
      assert.equal(served(m('DELETE', undefined, '/v1/chat/completions')), '405 Allow: POST, GET, HEAD');
    });

    it('takes any method when the route names none', () => {
      const m = matcher([{ id: 'any', uri: '/v1/*' }]);
      for (const method of ['GET', 'POST', 'DELETE', 'PATCH']) assert.equal(served(m(method, undefined, '/v1/x')), 'any');
    });
  });

  describe('hosts', () => {
    it('matches the Host header case-blind and without its port', () => {
      const m = matcher([{ id: 'api', uri: '/v1/*', hosts: ['API.example.com'] }]);
      assert.equal(served(m('POST', 'api.example.com', '/v1/chat/completions')), 'api');
      assert.equal(served(m('POST', 'Api.Example.COM:9080', '/v1/chat/completions')), 'api');
    });

    it('answers not found, never 405, for a host the route does not serve, or no Host at all', () => {
      const m = matcher([{ id: 'api', uri: '/v1/*', hosts: ['api.example.com'], methods: ['POST'] }]);
      assert.equal(served(m('POST', 'other.example.com', '/v1/chat/completions')), '404');
      assert.equal(served(m('GET', 'other.example.com', '/v1/chat/completions')), '404');
      assert.equal(served(m('POST', undefined, '/v1/chat/completions')), '404');
      assert.equal(served(m('POST', 'api.example.com.evil.test', '/v1/chat/completions')), '404');
    });

    it('falls through to a route without hosts for any other host', () => {
      const m = matcher([
        { id: 'tenant', uri: '/v1/*', hosts: ['tenant.example.com'] },
        { id: 'default', uri: '/v1/*' },
      ]);
      assert.equal(served(m('POST', 'tenant.example.com', '/v1/x')), 'tenant');
      assert.equal(served(m('POST', 'someone.else', '/v1/x')), 'default');
    });

    it('matches a wildcard host "*.example.com" against its subdomains only', () => {
      const m = matcher([{ id: 'wild', uri: '/v1/*', hosts: ['*.example.com'] }]);
      assert.equal(served(m('POST', 'eu.example.com', '/v1/x')), 'wild');
      assert.equal(served(m('POST', 'example.com', '/v1/x')), '404');
      assert.equal(served(m('POST', 'evilexample.com', '/v1/x')), '404');
    });
  });

  describe('priority', () => {
    it('serves a request from the route of highest priority, whatever the uri specificity', () => {
      const routes = [
        { id: 'chat', uri: '/v1/chat/completions' },
        { id: 'deep', uri: '/v1/chat/*' },
        { id: 'v1', uri: '/v1/*', priority: 5 },
      ];
      assert.equal(served(matcher(routes)('POST', undefined, '/v1/chat/completions')), 'v1');
      const level = routes.map((r) => ({ ...r, priority: 0 }));
      assert.equal(served(matcher(level)('POST', undefined, '/v1/chat/completions')), 'chat', 'equal priorities: the exact uri');
      assert.equal(served(matcher(level)('POST', undefined, '/v1/chat/x')), 'deep', 'equal priorities: the longest prefix');
    });

    it('breaks a tie between the same uri at the same priority by config order, and lets a negative priority go last', () => {
      const m = matcher([
        { id: 'low', uri: '/v1/*', priority: -1 },
        { id: 'first', uri: '/v1/*' },
        { id: 'second', uri: '/v1/*' },
      ]);
      assert.equal(served(m('POST', undefined, '/v1/x')), 'first');
    });

    it('tries the next route when the higher-priority one does not hold for the request', () => {
      const m = matcher([
        { id: 'default', uri: '/v1/*' },
        { id: 'team-a', uri: '/v1/*', priority: 10, vars: [['http_x_team', '==', 'a']] },
        { id: 'other-host', uri: '/v1/*', priority: 20, hosts: ['other.test'] },
      ]);
      assert.equal(served(m('POST', 'gw.test', '/v1/x', { headers: { 'x-team': 'a' } })), 'team-a');
      assert.equal(served(m('POST', 'gw.test', '/v1/x', { headers: { 'x-team': 'b' } })), 'default');
      assert.equal(served(m('POST', 'other.test', '/v1/x', { headers: { 'x-team': 'a' } })), 'other-host');
    });
  });

  describe('vars', () => {
    it('matches on headers, query arguments, cookies and the client address without the body', () => {
      const m = matcher([
        { id: 'header', uri: '/v1/*', vars: [['http_x_tenant', '~~', '^acme-']] },
        { id: 'arg', uri: '/v1/*', vars: [['arg_tier', 'in', ['gold', 'silver']]] },
        { id: 'cookie', uri: '/v1/*', vars: [['cookie_beta', '==', '1']] },
        { id: 'office', uri: '/v1/*', vars: [['remote_addr', '~~', '^192\\.168\\.']] },
        { id: 'default', uri: '/v1/*' },
      ]);
      assert.equal(served(m('POST', undefined, '/v1/x', { headers: { 'X-Tenant': 'acme-eu' } })), 'header');
      assert.equal(served(m('POST', undefined, '/v1/x', { query: 'tier=silver' })), 'arg');
      assert.equal(served(m('POST', undefined, '/v1/x', { headers: { cookie: 'a=b; beta=1' } })), 'cookie');
      assert.equal(served(m('POST', undefined, '/v1/x', { remoteAddr: '192.168.4.2' })), 'office');
      assert.equal(served(m('POST', undefined, '/v1/x', { query: 'tier=bronze', headers: { cookie: 'beta=0' } })), 'default');
    });

    it('answers 404, not 405, when the route for the method does not hold', () => {
      const m = matcher([
        { id: 'post', uri: '/v1/x', methods: ['POST'], vars: [['http_x_team', '==', 'a']] },
        { id: 'get', uri: '/v1/x', methods: ['GET'] },
      ]);
      assert.equal(served(m('POST', undefined, '/v1/x', { headers: { 'x-team': 'b' } })), '404');
      assert.equal(served(m('PUT', undefined, '/v1/x')), '405 Allow: POST, GET');
    });

    it('asks for the body only when a candidate reads post_arg, then decides with the parsed body', () => {
      const m = matcher([
        { id: 'gpt', uri: '/v1/*', vars: [['post_arg.model', '~~', '^gpt-']] },
        { id: 'team', uri: '/v1/*', vars: [['post_arg.metadata.team', '==', 'research']] },
        { id: 'default', uri: '/v1/*' },
      ]);
      const match = m('POST', undefined, '/v1/chat/completions');
      assert.equal(served(match), 'needs body');
      assert.equal(served(match, { model: 'gpt-4o' }), 'gpt');
      assert.equal(served(match, { model: 'o3', metadata: { team: 'research' } }), 'team');
      assert.equal(served(match, { model: 'claude-sonnet-4' }), 'default');
      assert.equal(served(match, [1, 2]), 'default', 'a body that is not an object has no fields');
    });

    it('decides without the body when the rest of a rule already does', () => {
      const m = matcher([
        { id: 'forced', uri: '/v1/*', vars: [['OR', ['http_x_force', '==', '1'], ['post_arg.model', '==', 'x']]] },
        { id: 'beta', uri: '/v1/*', vars: [['http_x_beta', '==', '1'], ['post_arg.model', '==', 'y']] },
        { id: 'default', uri: '/v1/*' },
      ]);
      assert.equal(served(m('POST', undefined, '/v1/x', { headers: { 'x-force': '1' } })), 'forced', 'OR: one true operand');
      const noBeta = m('POST', undefined, '/v1/x');
      assert.equal(served(noBeta), 'needs body', 'forced is undecided without the header');
      assert.equal(served(noBeta, { model: 'y' }), 'default', 'beta was ruled out by its header before the body');
    });

    it('reads the body up to the largest limit among the routes still in question', () => {
      const plugin = (size: number) => ({ 'ai-proxy': { provider: 'openai', auth: { header: { Authorization: 'Bearer sk-x' } }, max_req_body_size: size } });
      const m = matcher([
        { id: 'small', uri: '/v1/*', priority: 3, vars: [['post_arg.model', '==', 'a']], plugins: plugin(1000) },
        { id: 'ruled-out', uri: '/v1/*', priority: 2, vars: [['http_x_never', '==', '1']], plugins: plugin(9000) },
        { id: 'medium', uri: '/v1/*', priority: 1, plugins: plugin(5000) },
        { id: 'after', uri: '/v1/*', plugins: plugin(7000) },
      ]);
      const match = m('POST', undefined, '/v1/x');
      assert.ok(match.kind === 'needs_body');
      assert.equal(match.maxBodySize, 5000, 'neither a route ruled out by its header nor one after a sure match counts');
      assert.equal(served(match, { model: 'a' }), 'small');
      assert.equal(served(match, { model: 'b' }), 'medium');
    });

    it('answers 404 when no candidate holds, body read or not', () => {
      const m = matcher([{ id: 'gpt', uri: '/v1/*', vars: [['post_arg.model', '~~', '^gpt-']] }]);
      assert.equal(served(m('POST', undefined, '/v1/x'), { model: 'claude' }), '404');
      const h = matcher([{ id: 'a', uri: '/v1/*', vars: [['http_x_team', '==', 'a']] }]);
      assert.equal(served(h('POST', undefined, '/v1/x')), '404');
    });
  });
});
