import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { relayedHeaders, upstreamHeaders } from '../../lib/transport/headers.ts';

const instanceAuth = [['authorization', 'Bearer sk-instance']] as const;

describe('upstreamHeaders', () => {
  const dropped: Array<[string, string]> = [
    ['connection', 'keep-alive'],
    ['keep-alive', 'timeout=5'],
    ['proxy-connection', 'keep-alive'],
    ['proxy-authorization', 'Basic cHJveHk6cHc='],
    ['te', 'trailers'],
    ['trailer', 'x-checksum'],
    ['transfer-encoding', 'chunked'],
    ['upgrade', 'websocket'],
    ['host', 'gateway.local:9080'],
    ['content-length', '123'],
    ['accept-encoding', 'gzip, br'],
    ['expect', '100-continue'],
    ['content-encoding', 'gzip'],
    ['authorization', 'Bearer client-key'],
    ['x-api-key', 'client-anthropic-key'],
    ['api-key', 'client-azure-key'],
    ['cookie', 'session=abc'],
    ['x-goog-api-key', 'client-google-key'],
    ['x-amz-security-token', 'client-aws-token'],
    ['x-amz-date', '20250101T000000Z'],
    ['openai-organization', 'org-client'],
    ['openai-project', 'proj-client'],
  ];
  for (const [name, value] of dropped) {
    it(`does not send the client's ${name} header upstream`, () => {
      const out = upstreamHeaders({ [name]: value, 'user-agent': 'ua' }, [], false);
      assert.equal(out[name], undefined, `${name} was forwarded`);
      assert.equal(out['user-agent'], 'ua');
    });
  }

  it('keeps user-agent, x-stainless-* and custom headers as the client sent them', () => {
    const client: IncomingHttpHeaders = {
      'user-agent': 'OpenAI/JS 7.57.0',
      'x-stainless-lang': 'js',
      'x-stainless-retry-count': '0',
      'x-trace-id': 't-42',
      accept: 'application/json',
    };
    assert.deepEqual(upstreamHeaders(client, [], false), { ...client, 'content-type': 'application/json' });
  });

  it("sends the instance's credentials in place of the client's", () => {
    const out = upstreamHeaders({ authorization: 'Bearer client-key', 'x-api-key': 'client' }, instanceAuth, false);
    assert.equal(out['authorization'], 'Bearer sk-instance');
    assert.equal(out['x-api-key'], undefined);
  });

  it('forwards client credentials when forwardClientCredentials is set, the instance auth still winning on a clash', () => {
    const client: IncomingHttpHeaders = {
      authorization: 'Bearer client-key',
      'x-api-key': 'client-anthropic-key',
      'x-amz-date': '20250101T000000Z',
      cookie: 'session=abc',
      host: 'gateway.local',
      'transfer-encoding': 'chunked',
    };
    assert.deepEqual(upstreamHeaders(client, [], true), {
      authorization: 'Bearer client-key',
      'x-api-key': 'client-anthropic-key',
      'x-amz-date': '20250101T000000Z',
      cookie: 'session=abc',
      'content-type': 'application/json',
    });
    assert.equal(upstreamHeaders(client, instanceAuth, true)['authorization'], 'Bearer sk-instance');
  });

  it('drops the headers the client named in Connection', () => {
    const out = upstreamHeaders({ connection: 'keep-alive, X-Hop-Secret ,x-other', 'x-hop-secret': 's', 'x-other': 'o', 'x-keep': 'k' }, [], false);
    assert.deepEqual(out, { 'x-keep': 'k', 'content-type': 'application/json' });
  });

  it('sends content-type application/json whatever the client declared', () => {
    assert.equal(upstreamHeaders({ 'content-type': 'text/plain; charset=latin1' }, [], false)['content-type'], 'application/json');
  });

  it('joins a repeated client header into one comma-separated value', () => {
    assert.equal(upstreamHeaders({ 'x-tags': ['a', 'b'] } as IncomingHttpHeaders, [], false)['x-tags'], 'a, b');
  });
});

describe('relayedHeaders', () => {
  it('relays the content type, request ids, rate-limit state and retry hints', () => {
    const kept = {
      'content-type': 'application/json',
      'x-request-id': 'req_123',
      'request-id': 'req_anthropic',
      'openai-processing-ms': '312',
      'x-ratelimit-remaining-requests': '99',
      'x-ratelimit-reset-tokens': '6ms',
      'anthropic-ratelimit-tokens-remaining': '1000',
      'retry-after': '3',
      'retry-after-ms': '2500',
    };
    assert.deepEqual(relayedHeaders({ ...kept }), kept);
  });

  it('drops cookies, server details and connection-level headers', () => {
    const out = relayedHeaders({
      'set-cookie': ['__cf_bm=x; path=/'],
      server: 'cloudflare',
      'cf-ray': '8abc-FRA',
      date: 'Tue, 01 Jul 2025 00:00:00 GMT',
      connection: 'keep-alive',
      'transfer-encoding': 'chunked',
      'content-length': '42',
      'alt-svc': 'h3=":443"',
      'x-request-id': 'req_1',
    });
    assert.deepEqual(out, { 'x-request-id': 'req_1' });
  });
});
