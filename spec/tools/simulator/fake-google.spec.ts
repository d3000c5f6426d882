import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { SignJWT } from 'jose';
import { request } from 'undici';
import { openaiEmbeddingsToVertexPredict } from '../../../lib/protocols/converters/openai-embeddings-to-vertex-predict.ts';
import { makeTestServiceAccount, startFakeGoogle } from '../../../tools/simulator/fake-google.ts';
import type { FakeGoogle, TestServiceAccount } from '../../../tools/simulator/fake-google.ts';
import { createGcpTokenSource } from '../../../lib/providers/auth/gcp-token.ts';
import { createSseDecoder } from '../../../lib/transport/sse-decoder.ts';

// The fake over real HTTP: token endpoint, Vertex chat and :predict (docs/protocols.md#vertex-ai).
const SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const CHAT = '/v1/projects/fake-project/locations/us-central1/endpoints/openapi/chat/completions';
const predictPath = (model: string) => `/v1/projects/fake-project/locations/us-central1/publishers/google/models/${model}:predict`;

describe('fake Google (OAuth token endpoint and Vertex AI)', () => {
  let fake: FakeGoogle;
  let sa: TestServiceAccount;

  before(async () => {
    fake = await startFakeGoogle({ embeddingDims: 4 });
    sa = makeTestServiceAccount(fake.tokenUrl);
    fake.trust(sa.publicKey, sa.clientEmail);
  });
  afterEach(() => {
    fake.setBehavior({ kind: 'ok' });
  });
  after(() => fake.close());

  /** An assertion signed with the test account's key; `claims` overrides the correct ones. */
  async function assertion(claims: Record<string, unknown> = {}, key = sa): Promise<string> {
    const pem = (JSON.parse(key.json) as { private_key: string }).private_key;
    const iat = Math.floor(Date.now() / 1000);
    const payload = { iss: key.clientEmail, scope: SCOPE, aud: fake.tokenUrl, iat, exp: iat + 3600, ...claims };
    return new SignJWT(payload).setProtectedHeader({ alg: 'RS256' }).sign(createPrivateKey(pem));
  }

  async function exchange(jwt: string, grantType = 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
    const res = await request(fake.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: grantType, assertion: jwt }).toString(),
    });
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
  }

  async function post(path: string, body: unknown, token?: string) {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token) headers['authorization'] = `Bearer ${token}`;
    const res = await request(`${fake.url}${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
    return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
  }

  const token = async () => String((await exchange(await assertion())).body['access_token']);

  it('issues a bearer token for a correctly signed assertion and counts token requests', async () => {
    const before = fake.tokenRequests();
    const { status, body } = await exchange(await assertion());
    assert.equal(status, 200);
    assert.match(String(body['access_token']), /^ya29\./);
    assert.equal(body['token_type'], 'Bearer');
    assert.equal(body['expires_in'], 3599);
    assert.equal(fake.tokenRequests(), before + 1);
  });

  const refused: Array<[string, () => Promise<string>, string?]> = [
    ['an assertion signed by another key', async () => assertion({}, makeTestServiceAccount('unused'))],
    ['a wrong audience', async () => assertion({ aud: 'https://oauth2.googleapis.com/token' })],
    ['a wrong issuer', async () => assertion({ iss: 'intruder@example.com' })],
    ['a scope without cloud-platform', async () => assertion({ scope: 'https://www.googleapis.com/auth/userinfo.email' })],
    ['an expired assertion', async () => assertion({ iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 })],
    ['an assertion living longer than an hour', async () => assertion({ exp: Math.floor(Date.now() / 1000) + 7200 })],
    ['a wrong grant_type', async () => assertion(), 'client_credentials'],
  ];
  for (const [what, make, grantType] of refused) {
    it(`answers 400 invalid_grant to ${what}`, async () => {
      const { status, body } = await exchange(await make(), grantType);
      assert.equal(status, 400);
      assert.equal(body['error'], 'invalid_grant');
    });
  }

  it('serves Vertex chat only with a token it issued, else a Google-style 401', async () => {
    const chat = { model: 'google/gemini-2.0-flash-001', messages: [{ role: 'user', content: 'Hi' }] };
    const anonymous = await post(CHAT, chat);
    assert.equal(anonymous.status, 401);
    assert.deepEqual(JSON.parse(anonymous.text).error.status, 'UNAUTHENTICATED');
    assert.equal((await post(CHAT, chat, 'ya29.made-up')).status, 401);
    const ok = await post(CHAT, chat, await token());
    assert.equal(ok.status, 200);
    const completion = JSON.parse(ok.text);
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.model, 'google/gemini-2.0-flash-001');
  });

  it('streams Vertex chat as OpenAI SSE, also on the v1beta1 path', async () => {
    const res = await post(CHAT.replace('/v1/', '/v1beta1/'), { model: 'm', stream: true, messages: [{ role: 'user', content: 'Hi' }] }, await token());
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /text\/event-stream/);
    const events = createSseDecoder().push(Buffer.from(res.text));
    assert.equal(events.at(-1)?.data, '[DONE]');
    assert.ok(events.length > 3);
  });

  it('applies scripted behaviours with Google-shaped errors', async () => {
    fake.setBehavior({ kind: 'status', status: 429 });
    const res = await post(CHAT, { model: 'm', messages: [] }, await token());
    assert.equal(res.status, 429);
    assert.deepEqual(JSON.parse(res.text).error.status, 'RESOURCE_EXHAUSTED');
  });

  it('answers :predict with one embedding per instance, sized by outputDimensionality, with token counts', async () => {
    const res = await post(predictPath('text-embedding-005'), { instances: [{ content: 'a b c d' }, { content: 'e' }], parameters: { outputDimensionality: 3 } }, await token());
    assert.equal(res.status, 200);
    const { predictions } = JSON.parse(res.text);
    assert.equal(predictions.length, 2);
    assert.equal(predictions[0].embeddings.values.length, 3);
    assert.ok(predictions[0].embeddings.statistics.token_count > 0);
  });

  it('refuses several instances for a gemini-embedding model, and unknown paths with 404', async () => {
    const t = await token();
    const many = await post(predictPath('gemini-embedding-001'), { instances: [{ content: 'a' }, { content: 'b' }] }, t);
    assert.equal(many.status, 400);
    assert.equal(JSON.parse(many.text).error.status, 'INVALID_ARGUMENT');
    assert.equal((await post('/v1/projects/p/locations/r/publishers/google/models/x:countTokens', {}, t)).status, 404);
    // generateContent is served (native Vertex), and an empty body is Google's 400.
    assert.equal((await post('/v1/projects/p/locations/r/publishers/google/models/x:generateContent', {}, t)).status, 400);
  });

  it('rejects tokens after revokeTokens(), and tokens past their expiry', async () => {
    const t = await token();
    fake.revokeTokens();
    assert.equal((await post(predictPath('text-embedding-005'), { instances: [{ content: 'a' }] }, t)).status, 401);
    let now = Date.now();
    const shortLived = await startFakeGoogle({ tokenTtlSecs: 60, now: () => now, publicKey: sa.publicKey });
    try {
      const source = createGcpTokenSource({ serviceAccountJson: sa.json, tokenUrl: shortLived.tokenUrl, expireEarlySecs: 0, clock: { now: () => now } });
      const issued = await source.getToken();
      now += 61_000;
      const res = await request(`${shortLived.url}${predictPath('m')}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${issued}`, 'content-type': 'application/json' },
        body: JSON.stringify({ instances: [{ content: 'a' }] }),
      });
      await res.body.dump();
      assert.equal(res.statusCode, 401);
    } finally {
      await shortLived.close();
    }
  });

  it('serves a converted OpenAI embeddings request end to end: token source, :predict, conversion back', async () => {
    const source = createGcpTokenSource({ serviceAccountJson: sa.json, expireEarlySecs: 60 });
    const ctx = { model: 'text-embedding-005', stream: false };
    const upstream = openaiEmbeddingsToVertexPredict.request({ input: ['hello', 'world'], dimensions: 5 }, ctx);
    const res = await post(predictPath(ctx.model), upstream, await source.getToken());
    assert.equal(res.status, 200);
    const converted = openaiEmbeddingsToVertexPredict.response(JSON.parse(res.text), ctx);
    const data = converted['data'] as Array<{ index: number; embedding: number[] }>;
    assert.deepEqual(data.map((d) => [d.index, d.embedding.length]), [[0, 5], [1, 5]]);
    assert.ok((converted['usage'] as { prompt_tokens: number }).prompt_tokens >= 2);
  });
});
