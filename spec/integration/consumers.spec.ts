import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { Gateway } from '../../lib/gateway.ts';
import { createGateway } from '../../lib/gateway.ts';
import { loadConfigText } from '../../lib/load-config.ts';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import type { LogLine } from '../support/gateway-harness.ts';
import { captureLogger, chatBody, instance, postJson } from '../support/gateway-harness.ts';

// Consumer keys as the real SDKs present them by default, what the provider sees, the 401s in each
// client's shape, and a key revoked by POST /reload.
const KEY_A = 'ck-app-a-0123456789abcdef';
const KEY_B = 'ck-app-b-fedcba9876543210';
const KEY_C = 'ck-app-c-revoked-after-reload';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

describe('consumers: client keys, as the SDKs send them', function () {
  this.timeout(20_000);
  let fake: FakeOpenAI;
  let gateway: Gateway;
  let logs: LogLine[];
  let url: string;
  let admin: string;
  let consumers: Array<Record<string, unknown>>;

  const configText = () =>
    JSON.stringify({
      server: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      consumers,
      routes: [
        {
          id: 'chat',
          uris: ['/v1/*'],
          auth: 'required',
          plugins: { 'ai-proxy-multi': { instances: [instance('a', fake.url, { options: { model: 'gpt-4o-mini' } })] } },
        },
        {
          id: 'open',
          uris: ['/open/v1/*'],
          auth: 'optional',
          plugins: { 'ai-proxy-multi': { instances: [instance('a', fake.url, { options: { model: 'gpt-4o-mini' } })] } },
        },
      ],
    });
  const env = { APP_A_KEY: KEY_A };

  before(async () => {
    fake = await startFakeOpenAI({ name: 'fake' });
    consumers = [
      { name: 'app-a', keys: ['${APP_A_KEY}'], labels: { team: 'search' } },
      { name: 'app-b', keys: [`sha256:${sha256(KEY_B)}`] },
      { name: 'app-c', keys: [KEY_C] },
    ];
    const captured = captureLogger();
    logs = captured.lines;
    gateway = await createGateway(loadConfigText(configText(), env), { logger: captured.log, loadConfig: () => loadConfigText(configText(), env) });
    const { port, adminPort } = await gateway.listen();
    url = `http://127.0.0.1:${port}`;
    admin = `http://127.0.0.1:${adminPort}`;
  });
  after(async () => {
    await gateway.close();
    await fake.close();
  });
  beforeEach(() => fake.reset());

  const access = () => logs.filter((l) => l['access']).map((l) => l['access'] as Record<string, unknown>);

  it('serves the OpenAI SDK presenting a consumer key as apiKey, and never forwards that key', async () => {
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: KEY_A, maxRetries: 0 });
    const completion = await client.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(completion.object, 'chat.completion');
    assert.equal(fake.requests.length, 1);
    const seen = fake.requests[0];
    assert.equal(seen?.headers['authorization'], 'Bearer sk-a-secret-key-123456', 'the instance key replaces the client key');
    assert.ok(!JSON.stringify(seen?.headers).includes(KEY_A), 'the consumer key reached the provider');
    assert.equal(access().at(-1)?.['consumer'], 'app-a');
  });

  it('serves the Anthropic SDK presenting a sha256-configured key as apiKey (x-api-key), never forwarded', async () => {
    const client = new Anthropic({ baseURL: url, apiKey: KEY_B, maxRetries: 0 });
    const message = await client.messages.create({ model: 'claude-x', max_tokens: 50, messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(message.type, 'message');
    const seen = fake.requests[0];
    assert.ok(!JSON.stringify(seen?.headers).includes(KEY_B));
    assert.equal(seen?.headers['x-api-key'], undefined);
    assert.equal(access().at(-1)?.['consumer'], 'app-b');
  });

  it('accepts the Azure clients\' api-key header', async () => {
    const res = await postJson(`${url}/v1/chat/completions`, chatBody(), { 'api-key': KEY_A });
    assert.equal(res.status, 200);
    assert.ok(!JSON.stringify(fake.requests[0]?.headers).includes(KEY_A));
  });

  it('refuses an unknown key with 401 in the OpenAI SDK\'s shape (AuthenticationError), before any upstream call', async () => {
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'ck-not-a-consumer-key-at-all', maxRetries: 0 });
    await assert.rejects(
      client.chat.completions.create({ model: 'x', messages: [{ role: 'user', content: 'Hi' }] }),
      (err: unknown) => err instanceof OpenAI.AuthenticationError && err.status === 401 && (err.error as { type?: string }).type === 'authentication_error',
    );
    assert.equal(fake.calls(), 0);
    assert.ok(logs.some((l) => l.code === 'CONSUMER_KEY_UNKNOWN' && l['route'] === 'chat' && /refused with 401/.test(l.msg)), 'the refusal is logged');
  });

  it('refuses a missing key with 401 in the Anthropic shape on /v1/messages', async () => {
    const res = await postJson(`${url}/v1/messages`, { model: 'c', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] });
    assert.equal(res.status, 401);
    assert.deepEqual(res.json, {
      type: 'error',
      error: { type: 'authentication_error', message: 'this route needs a consumer key (Authorization: Bearer, x-api-key or api-key)' },
    });
    const sdk = new Anthropic({ baseURL: url, apiKey: 'ck-wrong-key-for-anthropic-sdk', maxRetries: 0 });
    await assert.rejects(
      sdk.messages.create({ model: 'c', max_tokens: 10, messages: [{ role: 'user', content: 'Hi' }] }),
      (err: unknown) => err instanceof Anthropic.AuthenticationError && err.status === 401,
    );
    assert.equal(fake.calls(), 0);
  });

  it('on an "optional" route serves anonymous requests and still refuses unknown keys', async () => {
    const anonymous = await postJson(`${url}/open/v1/chat/completions`, chatBody());
    assert.equal(anonymous.status, 200);
    assert.equal(access().at(-1)?.['consumer'], undefined);
    const wrong = await postJson(`${url}/open/v1/chat/completions`, chatBody(), { authorization: 'Bearer ck-unknown-key-0000000000' });
    assert.equal(wrong.status, 401);
  });

  it('refuses a revoked key after POST /reload and accepts a new one, without a restart', async () => {
    assert.equal((await postJson(`${url}/v1/chat/completions`, chatBody(), { authorization: `Bearer ${KEY_C}` })).status, 200);
    const added = 'ck-app-d-added-by-reload-0001';
    consumers = [consumers[0] as Record<string, unknown>, consumers[1] as Record<string, unknown>, { name: 'app-d', keys: [added] }];
    const reload = await fetch(`${admin}/reload`, { method: 'POST' });
    assert.equal(reload.status, 200);
    const revoked = await postJson(`${url}/v1/chat/completions`, chatBody(), { authorization: `Bearer ${KEY_C}` });
    assert.equal(revoked.status, 401);
    assert.equal((revoked.json as { error: { type: string } }).error.type, 'authentication_error');
    assert.equal((await postJson(`${url}/v1/chat/completions`, chatBody(), { authorization: `Bearer ${added}` })).status, 200);
    assert.equal(access().at(-1)?.['consumer'], 'app-d');
  });

  it('labels request and token metrics with the consumer', async () => {
    const text = await (await fetch(`${admin}/metrics`)).text();
    assert.match(text, /aipm_requests_total\{[^}]*consumer="app-a"[^}]*\} [1-9]/);
    assert.match(text, /aipm_tokens_total\{[^}]*consumer="app-b"[^}]*\} [1-9]/);
    assert.match(text, /aipm_requests_total\{[^}]*consumer=""[^}]*\} [1-9]/, 'anonymous requests on the optional route');
  });

  it('feeds chash hash_on "consumer" and route vars on $consumer_name', async () => {
    const cfg = JSON.parse(configText()) as { routes: Array<Record<string, unknown>> };
    const chatRoute = cfg.routes[0] as { plugins: Record<string, unknown> };
    chatRoute.plugins = {
      'ai-proxy-multi': {
        balancer: { algorithm: 'chash', hash_on: 'consumer' },
        instances: ['h1', 'h2', 'h3'].map((n) => instance(n, fake.url, { options: { model: 'gpt-4o-mini' } })),
      },
    };
    cfg.routes.unshift({
      id: 'vip',
      uris: ['/v1/*'],
      priority: 10,
      vars: [['consumer_name', '==', 'app-b']],
      plugins: { 'ai-proxy-multi': { instances: [instance('vip', fake.url, { options: { model: 'vip-model' } })] } },
    });
    const result = await gateway.reload(loadConfigText(JSON.stringify(cfg), env));
    assert.equal(result.applied, true);
    const viaB = await postJson(`${url}/v1/chat/completions`, chatBody(), { authorization: `Bearer ${KEY_B}` });
    const viaA = await postJson(`${url}/v1/chat/completions`, chatBody(), { authorization: `Bearer ${KEY_A}` });
    assert.equal(viaB.headers.get('x-ai-proxy-instance'), 'vip');
    const sticky = new Set<string | null>();
    for (let i = 0; i < 6; i++) {
      sticky.add((await postJson(`${url}/v1/chat/completions`, chatBody(), { authorization: `Bearer ${KEY_A}` })).headers.get('x-ai-proxy-instance'));
    }
    assert.equal(sticky.size, 1, 'one consumer, one instance');
    assert.ok(['h1', 'h2', 'h3'].includes(viaA.headers.get('x-ai-proxy-instance') ?? ''));
    assert.equal((await gateway.reload(loadConfigText(configText(), env))).applied, true);
  });

  it('never writes a consumer key to the log', () => {
    const text = JSON.stringify(logs);
    for (const key of [KEY_A, KEY_B, KEY_C, 'ck-not-a-consumer-key-at-all']) assert.ok(!text.includes(key), `a key was logged`);
    assert.ok(access().length >= 5, 'the requests above were logged');
  });
});
