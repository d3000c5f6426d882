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

  function matcher(routes: Array<Record<string, unknown>>): (method: string, host: string | undefined, path: string) => RouteMatch {
    const plugin = { 'ai-proxy-multi': { instances: [{ name: 'i', provider: 'openai', auth: { header: { Authorization: 'Bearer sk-x' } } }] } };
    const config = loadConfigText(JSON.stringify({ routes: routes.map((r) => ({ plugins: plugin, ...r })) }), {});
    const deps = { pools, store: createMemoryStore(), clock: systemClock, log: createLogger('silent'), scrubber: new SecretScrubber([]) };
    return createRouteMatcher(config.routes.map((r) => createRouteRuntime(r, deps)));
  }

  /** The id of the route that serves the request, or what the client is told instead. */
  function served(match: RouteMatch): string {
    if (match.kind === 'route') return match.route.config.id;
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
});
