import assert from 'node:assert/strict';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { freePort } from '../support/free-port.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { chatBody, instance, postJson, routeConfig, startGateway } from '../support/gateway-harness.ts';

describe('fallback between instances', () => {
  let a: FakeOpenAI;
  let b: FakeOpenAI;
  let gw: TestGateway | undefined;

  beforeEach(async () => {
    a = await startFakeOpenAI({ name: 'a' });
    b = await startFakeOpenAI({ name: 'b' });
  });
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
    await Promise.all([a.close(), b.close()]);
  });

  // a has the higher priority so it is always tried first; b is the fallback.
  const pair = (plugin: Record<string, unknown> = {}, aMore: Record<string, unknown> = {}, bMore: Record<string, unknown> = {}) =>
    routeConfig({
      instances: [instance('a', a.url, { priority: 1, ...aMore }), instance('b', b.url, { priority: 0, ...bMore })],
      ...plugin,
    });

  for (const status of [429, 500, 503]) {
    it(`answers from the second instance when the first returns ${status}`, async () => {
      a.setBehavior({ kind: 'status', status });
      gw = await startGateway(pair());
      const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
      assert.equal(res.status, 200);
      assert.equal(a.calls('/v1/chat/completions'), 1);
      assert.equal(b.calls('/v1/chat/completions'), 1);
      const warn = gw.logs.find((l) => l.level === 40 && l.msg.includes('falling back'));
      assert.ok(warn, 'a warn line names the fallback');
      assert.match(warn.msg, new RegExp(`instance a returned ${status}.*falling back to b`));
      const access = gw.access()[0];
      assert.equal(access?.['instance'], 'b');
      assert.equal(access?.['fallbacks'], 1);
    });
  }

  it('falls back when the first instance refuses the connection', async () => {
    const port = await freePort();
    gw = await startGateway(routeConfig({ instances: [instance('a', `http://127.0.0.1:${port}`, { priority: 1 }), instance('b', b.url)] }));
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
    assert.equal(res.status, 200);
    assert.equal(b.calls(), 1);
    assert.equal((gw.access()[0]?.['attempts'] as Array<{ status: number }>)[0]?.status, 502);
  });

  it('falls back when the first instance resets the connection', async () => {
    a.setBehavior({ kind: 'drop' });
    gw = await startGateway(pair());
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
    assert.equal(res.status, 200);
    assert.equal(b.calls(), 1);
  });

  it('falls back when the first instance times out', async () => {
    a.setBehavior({ kind: 'hang' });
    gw = await startGateway(pair({ timeout: 300 }));
    const started = Date.now();
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
    assert.equal(res.status, 200);
    assert.ok(Date.now() - started < 5000);
    assert.equal((gw.access()[0]?.['attempts'] as Array<{ status: number }>)[0]?.status, 504);
  });

  it('falls back on a status listed in fallback_http_statuses and not on an unlisted one', async () => {
    a.setBehavior({ kind: 'status', status: 404 });
    gw = await startGateway(pair({ fallback_http_statuses: [404] }));
    assert.equal((await postJson(`${gw.url}/v1/chat/completions`, chatBody())).status, 200);
    assert.equal(b.calls(), 1);
    a.setBehavior({ kind: 'status', status: 400 });
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
    assert.equal(res.status, 400, 'the provider answer is relayed');
    assert.equal(b.calls(), 1, 'no fallback on 400');
    assert.equal((res.json as { error: { message: string } }).error.message.length > 0, true);
  });

  it('does not fall back on 429 when the strategy only lists http_5xx', async () => {
    a.setBehavior({ kind: 'status', status: 429, retryAfter: 7 });
    gw = await startGateway(pair({ fallback_strategy: ['http_5xx'] }));
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
    assert.equal(res.status, 429);
    assert.equal(res.headers.get('retry-after'), '7');
    assert.equal(b.calls(), 0);
  });

  it('stops after max_retries further attempts', async () => {
    const c = await startFakeOpenAI({ name: 'c', behavior: { kind: 'status', status: 503 } });
    try {
      a.setBehavior({ kind: 'status', status: 503 });
      b.setBehavior({ kind: 'status', status: 503 });
      gw = await startGateway(
        routeConfig({
          max_retries: 1,
          instances: [instance('a', a.url, { priority: 2 }), instance('b', b.url, { priority: 1 }), instance('c', c.url)],
        }),
      );
      const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
      assert.equal(res.status, 502);
      assert.equal(a.calls() + b.calls() + c.calls(), 2);
      assert.equal(c.calls(), 0);
    } finally {
      await c.close();
    }
  });

  it('starts no further attempt once retry_on_failure_within_ms has passed', async () => {
    a.setBehavior({ kind: 'delay', ms: 250, then: { kind: 'status', status: 503 } });
    gw = await startGateway(pair({ retry_on_failure_within_ms: 100 }));
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
    assert.equal(res.status, 503, 'the single failure is relayed');
    assert.equal(b.calls(), 0);
  });

  it('builds each attempt from the client body: options of one instance never leak into the next', async () => {
    a.setBehavior({ kind: 'status', status: 503 });
    gw = await startGateway(
      pair({}, { options: { model: 'model-a', temperature: 0.1 } }, { options: { model: 'model-b' } }),
    );
    await postJson(`${gw.url}/v1/chat/completions`, chatBody({ top_p: 0.5 }));
    const sentToA = a.requests[0]?.json as Record<string, unknown>;
    const sentToB = b.requests[0]?.json as Record<string, unknown>;
    assert.equal(sentToA['model'], 'model-a');
    assert.equal(sentToA['temperature'], 0.1);
    assert.equal(sentToB['model'], 'model-b');
    assert.equal('temperature' in sentToB, false);
    assert.equal(sentToB['top_p'], 0.5);
  });

  it('answers 429 with the smallest Retry-After when every instance is rate limited', async () => {
    a.setBehavior({ kind: 'status', status: 429, retryAfter: 30 });
    b.setBehavior({ kind: 'status', status: 429, retryAfter: 5 });
    gw = await startGateway(pair());
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
    assert.equal(res.status, 429);
    assert.equal(res.headers.get('retry-after'), '5');
    const error = (res.json as { error: { attempts: Array<{ instance: string; status: number }> } }).error;
    assert.deepEqual(
      error.attempts.map((x) => [x.instance, x.status]),
      [
        ['a', 429],
        ['b', 429],
      ],
    );
  });

  it('answers 504 when every instance timed out and 502 for mixed failures, listing attempts without secrets', async () => {
    a.setBehavior({ kind: 'hang' });
    b.setBehavior({ kind: 'hang' });
    gw = await startGateway(pair({ timeout: 200 }));
    const timedOut = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
    assert.equal(timedOut.status, 504);
    b.setBehavior({ kind: 'status', status: 500 });
    const mixed = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
    assert.equal(mixed.status, 502);
    assert.match(mixed.text, /"instance":"a"/);
    assert.doesNotMatch(mixed.text, /secret-key/);
    assert.ok(gw.logs.some((l) => l.level === 50 && l.msg.includes('all instances failed')));
  });

  it('relays the provider status and error body when a single-instance route fails', async () => {
    a.setBehavior({ kind: 'status', status: 503, body: { error: { message: 'overloaded right now', type: 'server_error', param: null, code: null } } });
    gw = await startGateway(routeConfig({ instances: [instance('a', a.url)] }));
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
    assert.equal(res.status, 503);
    assert.equal((res.json as { error: { message: string } }).error.message, 'overloaded right now');
  });
});
