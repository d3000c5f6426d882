import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FakeGoogle } from '../../tools/simulator/fake-google.ts';
import { makeTestServiceAccount, startFakeGoogle } from '../../tools/simulator/fake-google.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { chatBody, postJson, routeConfig, startGateway } from '../support/gateway-harness.ts';
import type { RawUpstream } from '../support/raw-upstream.ts';
import { startRawUpstream } from '../support/raw-upstream.ts';

const HEADER_KEY = 'sk-live-Echo5ecretValue0001';
const QUERY_KEY = 'AIzaQueryKeyValue77665544';

/** Everything a client, an operator or a log reader could see. */
async function everythingVisible(gw: TestGateway, bodies: string[]): Promise<string> {
  const status = await (await fetch(`${gw.adminUrl}/status`)).text();
  return [...bodies, status, ...gw.logs.map((l) => JSON.stringify(l))].join('\n');
}

describe('no credential leaves the gateway, even when an upstream echoes it', () => {
  let upstream: RawUpstream;
  let gw: TestGateway;

  before(async () => {
    // A provider that repeats what it was sent, as real ones do in "invalid key" messages.
    upstream = await startRawUpstream((req, res) => {
      const message = `Incorrect API key provided: ${req.headers.authorization ?? ''} for ${req.url ?? ''} (key=${encodeURIComponent(QUERY_KEY)})`;
      const status = req.url?.includes('/messages') ? 529 : 500;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message, type: 'server_error' } }));
    });
    const echo = (name: string, provider: string, path: string) => ({
      name,
      provider,
      weight: 1,
      auth: { header: { Authorization: `Bearer ${HEADER_KEY}` }, query: { key: QUERY_KEY } },
      override: { endpoint: `${upstream.url}${path}` },
    });
    gw = await startGateway(
      routeConfig(
        {
          // One attempt each: the provider's own error body is relayed (OpenAI) or re-rendered (Anthropic).
          max_retries: 0,
          breaker: { failure_threshold: 2, window_ms: 10_000, reset_timeout_ms: 60_000 },
          instances: [echo('openai-echo', 'openai-compatible', '/v1/chat/completions'), echo('second-echo', 'openai-compatible', '/v1/chat/completions')],
        },
        { admin: { host: '127.0.0.1', port: 0 } },
      ),
    );
  });
  after(async () => {
    await gw.close();
    await upstream.close();
  });

  it('hides header, bearer and query keys from client bodies of every shape, /status, and every log line', async () => {
    const openai = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
    const anthropic = await postJson(`${gw.url}/v1/messages`, { model: 'claude', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }, { 'anthropic-version': '2023-06-01' });
    const single = await postJson(`${gw.url}/v1/chat/completions`, chatBody(), {});
    await sleep(50);
    assert.ok(openai.status >= 500 && anthropic.status >= 500 && single.status >= 500);
    assert.match(openai.text, /^\{"error":\{"message":"Incorrect API key provided/, 'the upstream body itself is relayed');
    assert.match(anthropic.text, /"type":"error".*Incorrect API key provided/, 're-rendered in the Anthropic shape');
    const seen = await everythingVisible(gw, [openai.text, anthropic.text, single.text]);
    assert.ok(gw.logs.some((l) => /breaker of .* opened/.test(l.msg)), 'the breaker warn line was written');
    for (const secret of [HEADER_KEY, QUERY_KEY, encodeURIComponent(QUERY_KEY)]) assert.ok(!seen.includes(secret), `${secret} leaked`);
    assert.match(seen, /\[REDACTED\]/);
  });
});

describe('no Vertex access token leaves the gateway', () => {
  let google: FakeGoogle;
  let gw: TestGateway;
  const tokens: string[] = [];

  before(async () => {
    google = await startFakeGoogle({ name: 'vertex' });
    const sa = makeTestServiceAccount(google.tokenUrl);
    google.trust(sa.publicKey, sa.clientEmail);
    google.setBehavior((req) => {
      const auth = String(req.headers.authorization ?? '');
      tokens.push(auth.replace(/^Bearer /, ''));
      return { kind: 'status', status: 503, body: { error: { code: 503, message: `token ${auth} is overloaded`, status: 'UNAVAILABLE' } } };
    });
    gw = await startGateway(
      routeConfig(
        {
          instances: [
            {
              name: 'vertex',
              provider: 'vertex-ai',
              provider_conf: { project_id: 'p', region: 'us-central1' },
              auth: { gcp: { service_account_json: sa.json } },
              options: { model: 'gemini-2.0-flash' },
              override: { endpoint: google.url },
            },
          ],
        },
        { admin: { host: '127.0.0.1', port: 0 } },
      ),
    );
  });
  after(async () => {
    await gw.close();
    await google.close();
  });

  it('scrubs the cached token the provider echoed from the client body, /status and logs', async () => {
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
    assert.equal(res.status, 503);
    assert.match(res.text, /is overloaded/);
    assert.ok(tokens.length > 0 && (tokens[0]?.length ?? 0) > 10, 'the fake saw a token');
    const seen = await everythingVisible(gw, [res.text]);
    for (const token of tokens) assert.ok(!seen.includes(token), 'the access token leaked');
  });
});
