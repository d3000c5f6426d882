import assert from 'node:assert/strict';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { GatewayError } from '../../lib/errors.ts';
import { makeTestServiceAccount, startFakeGoogle } from '../../tools/simulator/fake-google.ts';
import type { FakeGoogle, TestServiceAccount } from '../../tools/simulator/fake-google.ts';
import { GcpTokenError } from '../../lib/errors.ts';
import { CLOUD_PLATFORM_SCOPE, createGcpTokenSource, serviceAccountProblem } from '../../lib/providers/auth/gcp-token.ts';

// docs/protocols.md#vertex-token-exchange against a real local token endpoint that verifies the JWT.
describe('createGcpTokenSource', () => {
  let fake: FakeGoogle;
  let sa: TestServiceAccount;
  let stranger: TestServiceAccount;
  // One clock for the source and the fake, so expiry is exact and `exp` checks agree. Starts at real time.
  let nowMs = 0;
  const clock = { now: () => nowMs };
  const advanceSecs = (s: number) => {
    nowMs += s * 1000;
  };

  before(async () => {
    fake = await startFakeGoogle({ tokenTtlSecs: 3600, now: clock.now });
    sa = makeTestServiceAccount(fake.tokenUrl);
    stranger = makeTestServiceAccount(fake.tokenUrl, 'someone-else@other.iam.gserviceaccount.com');
  });
  beforeEach(() => {
    nowMs = Date.now();
    fake.trust(sa.publicKey, sa.clientEmail);
    fake.setTokenBehavior(undefined);
    fake.requests.length = 0;
  });
  after(() => fake.close());

  const source = (extra: { maxTtlSecs?: number; serviceAccountJson?: string; tokenUrl?: string } = {}) =>
    createGcpTokenSource({ serviceAccountJson: sa.json, expireEarlySecs: 300, clock, ...extra });
  const tokenCalls = () => fake.requests.filter((r) => r.path === '/token').length;

  it('exchanges an RS256 assertion the token endpoint verifies with the public key, at the key file token_uri', async () => {
    const token = await source().getToken();
    assert.match(token, /^ya29\.fake-/);
    assert.equal(tokenCalls(), 1);
    const request = fake.requests[0];
    assert.equal(request?.headers['content-type'], 'application/x-www-form-urlencoded');
    const form = new URLSearchParams(request?.body.toString('utf8'));
    assert.equal(form.get('grant_type'), 'urn:ietf:params:oauth:grant-type:jwt-bearer');
    const assertion = form.get('assertion') ?? '';
    const key = JSON.parse(sa.json) as { private_key_id: string };
    assert.deepEqual(decodeProtectedHeader(assertion), { alg: 'RS256', typ: 'JWT', kid: key.private_key_id });
    const claims = decodeJwt(assertion);
    assert.equal(claims.iss, sa.clientEmail);
    assert.equal(claims.aud, fake.tokenUrl);
    assert.equal(claims['scope'], CLOUD_PLATFORM_SCOPE);
    assert.equal(claims.iat, Math.floor(nowMs / 1000));
    assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 3600);
  });

  it('reuses the token until expire_early_secs before expiry, then fetches a new one', async () => {
    const tokens = source();
    const first = await tokens.getToken();
    advanceSecs(3600 - 300 - 1);
    assert.equal(await tokens.getToken(), first);
    assert.equal(tokenCalls(), 1);
    advanceSecs(1);
    const second = await tokens.getToken();
    assert.notEqual(second, first);
    assert.equal(tokenCalls(), 2);
  });

  it('never keeps a token longer than max_ttl', async () => {
    const tokens = source({ maxTtlSecs: 600 });
    const first = await tokens.getToken();
    advanceSecs(599);
    assert.equal(await tokens.getToken(), first);
    advanceSecs(1);
    assert.notEqual(await tokens.getToken(), first);
    assert.equal(tokenCalls(), 2);
  });

  it('makes one token request for ten concurrent callers, who all get the same token', async () => {
    fake.setTokenBehavior({ kind: 'delay', ms: 30, then: { kind: 'ok' } });
    const tokens = source();
    const got = await Promise.all(Array.from({ length: 10 }, () => tokens.getToken()));
    assert.equal(tokenCalls(), 1);
    assert.equal(new Set(got).size, 1);
  });

  it('fetches a fresh token after invalidate(), as after a 401 from Vertex', async () => {
    const tokens = source();
    const first = await tokens.getToken();
    tokens.invalidate();
    assert.notEqual(await tokens.getToken(), first);
    assert.equal(tokenCalls(), 2);
  });

  it('does not cache a failure: the next call tries again', async () => {
    fake.setTokenBehavior({ kind: 'status', status: 503 });
    const tokens = source();
    await assert.rejects(tokens.getToken(), (err: unknown) => err instanceof GcpTokenError && err.tokenStatus === 503);
    fake.setTokenBehavior(undefined);
    assert.match(await tokens.getToken(), /^ya29\./);
    assert.equal(tokenCalls(), 2);
  });

  /** No secret may appear in an error message: not the key, not the assertion, not a token. */
  function assertNoSecrets(err: unknown): void {
    assert.ok(err instanceof GatewayError, 'a GatewayError');
    const text = `${err.message} ${String(err.stack)}`;
    const key = JSON.parse(sa.json) as { private_key: string };
    for (const line of key.private_key.split('\n').filter((l) => l.length > 20)) assert.ok(!text.includes(line), 'private key leaked');
    assert.ok(!text.includes('PRIVATE KEY'), 'PEM leaked');
    assert.ok(!/eyJ[\w-]+\.eyJ/.test(text), 'assertion leaked');
    assert.ok(!text.includes('ya29'), 'token leaked');
  }

  it('reports a key signed by another account as invalid_grant from the endpoint, without secrets', async () => {
    fake.trust(stranger.publicKey, stranger.clientEmail);
    const err = await source().getToken().catch((e: unknown) => e);
    assert.ok(err instanceof GcpTokenError);
    assert.equal(err.tokenStatus, 400);
    assert.equal(err.status, 502);
    assert.match(err.message, /invalid_grant/);
    assertNoSecrets(err);
  });

  it('reports a private key that is not PKCS#8 without sending anything or quoting the key', async () => {
    const broken = JSON.stringify({ ...JSON.parse(sa.json), private_key: '-----BEGIN PRIVATE KEY-----\nnot-a-key-at-all-but-secret-material\n-----END PRIVATE KEY-----\n' });
    const err = await source({ serviceAccountJson: broken }).getToken().catch((e: unknown) => e);
    assert.ok(err instanceof GcpTokenError);
    assert.match(err.message, /PKCS#8/);
    assert.ok(!err.message.includes('secret-material'));
    assertNoSecrets(err);
    assert.equal(tokenCalls(), 0);
  });

  it('rejects a key file that is not JSON, or lacks client_email, without echoing it', async () => {
    const text = '{"private_key": "-----BEGIN PRIVATE KEY-----\\nsecret-material';
    const err = await source({ serviceAccountJson: text }).getToken().catch((e: unknown) => e);
    assert.ok(err instanceof GcpTokenError);
    assert.ok(!err.message.includes('secret-material'));
    assert.match(serviceAccountProblem(text) ?? '', /not valid JSON/);
    assert.match(serviceAccountProblem('{"private_key":"x"}') ?? '', /client_email/);
    assert.equal(serviceAccountProblem(sa.json), undefined);
  });

  it('reports an unreachable token endpoint as a 502 GatewayError naming the cause', async () => {
    const closed = await startFakeGoogle();
    const url = closed.tokenUrl;
    await closed.close();
    const err = await source({ tokenUrl: url }).getToken().catch((e: unknown) => e);
    assert.ok(err instanceof GcpTokenError);
    assert.equal(err.code, 'UPSTREAM_CONNECT');
    assert.match(err.message, /could not be reached \(ECONNREFUSED\)/);
  });
});
