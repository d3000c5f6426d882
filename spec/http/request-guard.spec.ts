import assert from 'node:assert/strict';
import { GatewayError } from '../../lib/errors.ts';
import { guardRequestTarget } from '../../lib/http/request-guard.ts';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { chatBody, instance, startGateway } from '../support/gateway-harness.ts';
import { rawRequest } from '../support/raw-http.ts';

function refusal(url: string): string | undefined {
  try {
    guardRequestTarget(url);
    return undefined;
  } catch (err) {
    assert.ok(err instanceof GatewayError);
    assert.equal(err.status, 400);
    assert.equal(err.code, 'INVALID_PATH');
    return err.message;
  }
}

describe('guardRequestTarget', () => {
  const refused: Array<[string, string]> = [
    ['a raw .. segment', '/v1/../../etc/passwd'],
    ['a raw . segment', '/v1/./chat/completions'],
    ['a trailing ..', '/v1/models/..'],
    ['%2e%2e', '/v1/%2e%2e/%2e%2e/etc/passwd'],
    ['%2E%2E in upper case', '/v1/%2E%2E/secrets'],
    ['.%2e', '/v1/.%2e/admin'],
    ['%2e.', '/v1/%2e./admin'],
    ['a lone %2e', '/v1/%2e/chat/completions'],
    ['.. hidden behind an encoded slash', '/v1/x%2f..%2f..%2fadmin'],
    ['double-encoded %252e%252e', '/v1/%252e%252e/admin'],
    ['..;params', '/v1/..;/admin'],
    ['%00', '/v1/chat/completions%00.json'],
    ['%0d%0a', '/v1/x%0d%0aX-Injected:%20yes'],
    ['%0A in upper case', '/v1/x%0Ay'],
    ['a raw backslash', '/v1\\..\\admin'],
    ['an encoded backslash', '/v1/%5c..%5cadmin'],
    ['a fragment', '/v1/chat/completions#frag'],
    ['a malformed escape', '/v1/chat%zz/completions'],
    ['an absolute-form target', 'http://evil.example/v1/chat/completions'],
    ['a protocol-relative path', '//evil.example/v1/chat/completions'],
    ['the asterisk form', '*'],
    ['an encoded CR/LF in the query', '/v1/models?x=%0d%0aHost:%20evil'],
    ['an encoded NUL in the query', '/v1/models?x=%00'],
  ];
  for (const [what, url] of refused) {
    it(`refuses ${what}: ${url}`, () => {
      assert.match(refusal(url) ?? 'accepted', /^invalid request path: /);
    });
  }

  const accepted: Array<[string, string]> = [
    ['a plain endpoint', '/v1/chat/completions'],
    ['dots inside a segment', '/model/amazon.nova-lite-v1:0/converse'],
    ['an encoded ARN with %3A and %2F', '/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse'],
    ['a dotfile-like segment', '/v1/files/.well-known'],
    ['three dots', '/v1/.../x'],
    ['an Azure query', '/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21'],
    ['a trailing slash and an empty segment', '/v1//models/'],
    ['UTF-8 percent-escapes', '/v1/files/caf%C3%A9'],
  ];
  for (const [what, url] of accepted) {
    it(`accepts ${what}: ${url}`, () => {
      assert.equal(refusal(url), undefined);
      assert.equal(guardRequestTarget(url).path, url.split('?')[0]);
    });
  }
});

describe('request paths through the gateway', () => {
  let up: FakeOpenAI;
  let gw: TestGateway;
  let port: number;

  before(async () => {
    up = await startFakeOpenAI({ name: 'up' });
    gw = await startGateway({
      server: { host: '127.0.0.1', port: 0 },
      admin: false,
      routes: [
        { id: 'all', uri: '/*', plugins: { 'ai-proxy-multi': { instances: [instance('up', up.url)] } } },
      ],
    });
    port = Number(new URL(gw.url).port);
  });
  after(async () => {
    await gw.close();
    await up.close();
  });
  beforeEach(() => up.reset());

  const post = (target: string, body: unknown = chatBody()) =>
    rawRequest(port, `POST ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json`, JSON.stringify(body));

  it('answers a traversal with 400 in OpenAI shape and never calls the provider with its key', async () => {
    for (const target of ['/v1/../../etc/passwd', '/v1/%2e%2e/%2E%2E/etc/passwd', '/v1/.%2e/chat/completions', '/v1/x%5c..%5cy']) {
      const res = await post(target, { prompt: 'x' });
      assert.equal(res.status, 400, target);
      const error = (res.json as { error: { message: string; code: string } }).error;
      assert.equal(error.code, 'invalid_path');
      assert.match(error.message, /invalid request path/);
    }
    assert.equal(up.calls(), 0);
  });

  it('answers in Bedrock shape on a Converse path and in Anthropic shape on /v1/messages', async () => {
    const bedrock = await post('/model/%2e%2e/converse');
    assert.equal(bedrock.status, 400);
    assert.match((bedrock.json as { message: string }).message, /invalid request path/);
    assert.equal(bedrock.headers['x-amzn-errortype'], 'ValidationException');
    const anthropic = await post('/x/%2e/v1/messages');
    assert.equal(anthropic.status, 400);
    assert.equal((anthropic.json as { type: string }).type, 'error');
    assert.equal(up.calls(), 0);
  });

  it('refuses NUL, encoded CR/LF and a fragment in the target', async () => {
    for (const target of ['/v1/chat/completions%00', '/v1/chat/completions?a=%0d%0aX-Evil:%201', '/v1/chat/completions#x']) {
      const res = await post(target);
      assert.equal(res.status, 400, target);
    }
    assert.equal(up.calls(), 0);
  });

  it('still serves a normal request, and forwards a passthrough path unchanged', async () => {
    const ok = await post('/v1/chat/completions');
    assert.equal(ok.status, 200);
    const pass = await post('/v1/files/caf%C3%A9?purpose=x', { anything: 1 });
    assert.equal(pass.status, 404, 'the fake has no /files: its 404 is relayed');
    assert.equal(up.requests[1]?.url, '/v1/files/caf%C3%A9?purpose=x');
  });
});
