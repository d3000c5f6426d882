import assert from 'node:assert/strict';
import request from 'supertest';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { chatBody, instance, startGateway } from '../support/gateway-harness.ts';

describe('HTTP edges of the data plane', () => {
  let up: FakeOpenAI;
  let gw: TestGateway;

  before(async () => {
    up = await startFakeOpenAI({ name: 'up' });
    gw = await startGateway({
      server: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0, api_key: 'admin-secret' },
      routes: [
        {
          id: 'chat',
          uris: ['/v1/chat/completions', '/v1/embeddings'],
          methods: ['POST'],
          plugins: { 'ai-proxy-multi': { max_req_body_size: 2048, instances: [instance('up', up.url)] } },
        },
        {
          id: 'anthropic',
          uri: '/v1/messages',
          plugins: { 'ai-proxy-multi': { instances: [instance('up2', up.url)] } },
        },
        {
          id: 'other',
          uri: '/tools/*',
          hosts: ['api.example.com'],
          plugins: { 'ai-proxy': { provider: 'openai-compatible', override: { endpoint: up.url } } },
        },
      ],
    });
  });
  after(async () => {
    await gw.close();
    await up.close();
  });
  beforeEach(() => up.reset());

  const openaiError = (body: unknown) => (body as { error: { message: string; type: string } }).error;

  it('answers 404 in OpenAI error shape for a path no route serves', async () => {
    const res = await request(gw.url).post('/v1/unknown').send(chatBody());
    assert.equal(res.status, 404);
    assert.match(res.headers['content-type'] ?? '', /application\/json/);
    assert.match(openaiError(res.body).message, /no route/);
  });

  it('answers 405 with Allow when the method is not configured', async () => {
    const res = await request(gw.url).get('/v1/chat/completions');
    assert.equal(res.status, 405);
    assert.equal(res.headers['allow'], 'POST');
    assert.ok(openaiError(res.body));
  });

  it('refuses a body over max_req_body_size with 413 and never calls the provider', async () => {
    const res = await request(gw.url)
      .post('/v1/chat/completions')
      .set('content-type', 'application/json')
      .send(JSON.stringify(chatBody({ padding: 'x'.repeat(4096) })));
    assert.equal(res.status, 413);
    assert.equal(openaiError(res.body).type, 'invalid_request_error');
    assert.equal(up.calls(), 0);
  });

  it('refuses a non-JSON content type with 415', async () => {
    const res = await request(gw.url).post('/v1/chat/completions').set('content-type', 'text/plain').send('hello');
    assert.equal(res.status, 415);
    assert.ok(openaiError(res.body));
  });

  it('answers 400 for malformed JSON, and for JSON that is not an object', async () => {
    const bad = await request(gw.url).post('/v1/chat/completions').set('content-type', 'application/json').send('{"model": ');
    assert.equal(bad.status, 400);
    assert.match(openaiError(bad.body).message, /not valid JSON/);
    const array = await request(gw.url).post('/v1/chat/completions').set('content-type', 'application/json').send('[1,2]');
    assert.equal(array.status, 400);
    assert.equal(up.calls(), 0);
  });

  it('renders errors on an Anthropic path in Anthropic shape', async () => {
    const res = await request(gw.url).post('/v1/messages').set('content-type', 'application/json').send('{oops');
    assert.equal(res.status, 400);
    assert.equal(res.body.type, 'error');
    assert.equal(res.body.error.type, 'invalid_request_error');
  });

  it('matches a prefix route only for its configured host', async () => {
    const wrongHost = await request(gw.url).post('/tools/run').send({ anything: 1 });
    assert.equal(wrongHost.status, 404);
    const res = await request(gw.url).post('/tools/run?x=1').set('host', 'api.example.com').send({ anything: 1 });
    assert.equal(res.status, 404, 'the fake provider has no /tools path: its 404 is relayed');
    assert.equal(up.requests[0]?.url, '/tools/run?x=1', 'passthrough keeps the client path and query');
  });

  it('sends the provider only the instance credentials and relays request id and rate-limit headers', async () => {
    const res = await request(gw.url)
      .post('/v1/chat/completions')
      .set('authorization', 'Bearer client-key')
      .set('x-api-key', 'client-x-key')
      .set('cookie', 'session=abc')
      .set('x-amz-security-token', 'tok')
      .set('x-custom-trace', 'trace-1')
      .send(chatBody());
    assert.equal(res.status, 200);
    const seen = up.requests[0]?.headers ?? {};
    assert.equal(seen['authorization'], 'Bearer sk-up-secret-key-123456');
    assert.equal(seen['x-api-key'], undefined);
    assert.equal(seen['cookie'], undefined);
    assert.equal(seen['x-amz-security-token'], undefined);
    assert.equal(seen['x-custom-trace'], 'trace-1');
    assert.match(String(res.headers['x-request-id']), /^req_up_/);
    assert.ok(res.headers['x-ratelimit-remaining-requests']);
  });

  it('forwards an unchanged body byte for byte', async () => {
    const raw = '{"model":"m",  "messages":[{"role":"user","content":"hi"}]}';
    await request(gw.url).post('/v1/chat/completions').set('content-type', 'application/json').send(raw);
    assert.equal(up.requests[0]?.body.toString(), raw);
  });

  it('serves the admin API: open health and readiness, status behind the API key', async () => {
    assert.ok(gw.adminUrl);
    assert.equal((await request(gw.adminUrl).get('/healthz')).status, 200);
    assert.equal((await request(gw.adminUrl).get('/readyz')).status, 200);
    assert.equal((await request(gw.adminUrl).get('/status')).status, 401);
    await request(gw.url).post('/v1/chat/completions').send(chatBody());
    const status = await request(gw.adminUrl).get('/status').set('x-api-key', 'admin-secret');
    assert.equal(status.status, 200);
    const chat = status.body.routes.find((r: { id: string }) => r.id === 'chat');
    assert.ok(chat.instances[0].requests >= 1);
    const metrics = await request(gw.adminUrl).get('/metrics').set('x-api-key', 'admin-secret');
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /aipm_requests_total\{route="chat",instance="up",status="200",type="ai_chat"\} \d+/);
    assert.match(metrics.text, /aipm_instance_in_flight\{route="chat",instance="up"\} 0/);
  });
});
