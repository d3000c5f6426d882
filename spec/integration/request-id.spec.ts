import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { chatBody, instance, postJson, routeConfig, startGateway } from '../support/gateway-harness.ts';

describe('who answered: request id, instance and attempts on every answer', () => {
  let a: FakeOpenAI;
  let b: FakeOpenAI;
  let gw: TestGateway | undefined;
  beforeEach(async () => {
    a = await startFakeOpenAI({ name: 'a', behavior: { kind: 'status', status: 503 } });
    b = await startFakeOpenAI({ name: 'b' });
  });
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
    await Promise.all([a.close(), b.close()]);
  });
  const pair = (more: Record<string, unknown> = {}) =>
    routeConfig({ instances: [instance('a', a.url, { priority: 1 }), instance('b', b.url)], ...more });

  it("round-trips the client's x-request-id: on the answer, in the access log and upstream; the provider's own id is relayed", async () => {
    gw = await startGateway(pair());
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody(), { 'x-request-id': 'client-trace-42' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-ai-proxy-request-id'), 'client-trace-42');
    assert.equal(gw.access()[0]?.['route'], 'r1');
    assert.equal(gw.logs.find((l) => l['access'])?.['reqId'], 'client-trace-42');
    assert.deepEqual(
      [...a.requests, ...b.requests].map((r) => r.headers['x-request-id']),
      ['client-trace-42', 'client-trace-42'],
      'every attempt carries it upstream',
    );
    assert.ok(res.headers.get('x-request-id'), "the provider's own request id is still relayed");
    assert.notEqual(res.headers.get('x-request-id'), 'client-trace-42');
  });

  it('names the instance that answered and the attempts it took, through the OpenAI SDK', async () => {
    gw = await startGateway(pair());
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const { response } = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
    assert.equal(response.headers.get('x-ai-proxy-instance'), 'b');
    assert.equal(response.headers.get('x-ai-proxy-attempts'), '2');
    assert.match(response.headers.get('x-ai-proxy-request-id') ?? '', /^[\w-]+$/, 'a generated id when the client sent none');
  });

  it('generates an id instead of echoing an unsafe one, and says no instance after every attempt failed', async () => {
    b.setBehavior({ kind: 'status', status: 500 });
    gw = await startGateway(pair());
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody(), { 'x-request-id': 'x'.repeat(300) });
    assert.equal(res.status, 502);
    const id = res.headers.get('x-ai-proxy-request-id') ?? '';
    assert.ok(id.length > 0 && id.length < 100, id);
    assert.equal(res.headers.get('x-ai-proxy-instance'), null);
    assert.equal(res.headers.get('x-ai-proxy-attempts'), '2');
  });

  it('carries the request id on errors the gateway answers itself, and leaves instance headers off when a route says so', async () => {
    gw = await startGateway(pair({ expose_instance_headers: false }));
    const notFound = await postJson(`${gw.url}/nowhere`, chatBody(), { 'x-request-id': 'r-404' });
    assert.equal(notFound.status, 404);
    assert.equal(notFound.headers.get('x-ai-proxy-request-id'), 'r-404');
    const ok = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('x-ai-proxy-instance'), null);
    assert.equal(ok.headers.get('x-ai-proxy-attempts'), null);
  });
});
