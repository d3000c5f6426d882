import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestGateway } from '../support/gateway-harness.ts';
import { chatBody, instance, postJson, routeConfig, startGateway } from '../support/gateway-harness.ts';
import type { RawUpstream } from '../support/raw-upstream.ts';
import { chatChunk, chatCompletion, startRawUpstream } from '../support/raw-upstream.ts';

/** A chat body whose tool schema nests `depth` objects deep, as text (JSON.stringify would overflow). */
function deeplyNestedChat(depth: number): string {
  const schema = `${'{"type":"object","properties":{"x":'.repeat(depth)}{"type":"string"}${'}}'.repeat(depth)}`;
  return `{"model":"client-model","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"deep","parameters":${schema}}}]}`;
}

function breakerStates(gw: TestGateway): string[] {
  return gw.gateway.routes.flatMap((r) => [...r.instances.values()].map((i) => i.breaker.snapshot().state));
}

function errorMessage(json: unknown): string {
  const body = json as { error?: { message?: string; code?: string } };
  return body.error?.message ?? '';
}

describe('faults: only the upstream counts against an instance, and every wait has a bound', () => {
  let upstream: RawUpstream | undefined;
  let gw: TestGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    await upstream?.close();
    gw = undefined;
    upstream = undefined;
  });

  it('answers a body the gateway cannot serialise with 500 internal_error, calls no instance and opens no breaker', async () => {
    upstream = await startRawUpstream((_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(chatCompletion('hi')));
    const breaker = { failure_threshold: 2, window_ms: 10_000, reset_timeout_ms: 30_000 };
    // The parse-time depth limit is lifted so the body reaches the pipeline; `options.model` makes it rewrite the body.
    gw = await startGateway(
      routeConfig(
        { breaker, instances: [instance('a', upstream.url, { options: { model: 'm' } }), instance('b', upstream.url, { options: { model: 'm' } })] },
        { server: { host: '127.0.0.1', port: 0, max_json_depth: 10_000 } },
      ),
    );
    for (let i = 0; i < 5; i++) {
      const res = await postJson(`${gw.url}/v1/chat/completions`, deeplyNestedChat(4000));
      assert.equal(res.status, 500);
      assert.equal((res.json as { error: { code: string } }).error.code, 'internal_error');
    }
    assert.equal(upstream.calls(), 0, 'no upstream call was made');
    assert.deepEqual(breakerStates(gw), ['closed', 'closed']);
    const stats = [...(gw.gateway.routes[0]?.instances.values() ?? [])].map((i) => i.stats.failures);
    assert.deepEqual(stats, [0, 0], 'no failure counted against any instance');
    const errors = gw.logs.filter((l) => l.level === 50 && !l['access']);
    assert.equal(errors.length, 5, 'logged once per request');
    assert.ok(errors.every((l) => typeof l['reqId'] === 'string'), 'with the request id');
    // A normal request still goes through.
    const ok = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
    assert.equal(ok.status, 200);
  });

  it('times out a hanging upstream within 50 ms of `timeout` and says so', async () => {
    upstream = await startRawUpstream(() => undefined); // never answers
    gw = await startGateway(routeConfig({ timeout: 1000, instances: [instance('a', upstream.url)] }));
    const started = performance.now();
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
    const took = performance.now() - started;
    assert.equal(res.status, 504);
    assert.match(errorMessage(res.json), /timed out after 1000 ms/);
    const attempt = (gw.access()[0]?.['attempts'] as Array<{ duration_ms: number }>)[0];
    assert.ok(attempt && attempt.duration_ms >= 995 && attempt.duration_ms < 1100, `attempt took ${attempt?.duration_ms} ms`);
    assert.ok(took < 1300, `request took ${took} ms`);
  });

  it('times out a stream whose upstream stalls between chunks, ending the client stream with an error', async () => {
    upstream = await startRawUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chatChunk('first words'));
    });
    gw = await startGateway(routeConfig({ timeout: 600, instances: [instance('a', upstream.url)] }));
    const started = performance.now();
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody({ stream: true }));
    const took = performance.now() - started;
    assert.equal(res.status, 200);
    assert.match(res.text, /first words/);
    assert.match(res.text, /timed out after 600 ms/);
    assert.ok(took >= 590 && took < 900, `stream ended after ${took} ms`);
  });

  it('says a stream broke after N bytes with a socket reset, not that the instance could not be reached', async () => {
    upstream = await startRawUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chatChunk('partial answer'), () => setTimeout(() => res.socket?.resetAndDestroy(), 20));
    });
    gw = await startGateway(routeConfig({ instances: [instance('a', upstream.url)] }));
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody({ stream: true }));
    assert.equal(res.status, 200);
    assert.match(res.text, /partial answer/);
    assert.match(res.text, /broke after \d+ bytes: socket reset/);
    assert.doesNotMatch(res.text, /could not be reached/);
    assert.match(String(gw.access()[0]?.['error']), /broke after \d+ bytes: socket reset/);
  });

  it('refuses an answer whose Content-Length is over max_response_bytes without reading it', async () => {
    let written = 0;
    upstream = await startRawUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(200 * 1024 * 1024) });
      const block = Buffer.alloc(64 * 1024, 32);
      const pump = (): void => {
        while (!res.destroyed && written < 200 * 1024 * 1024) {
          written += block.length;
          if (!res.write(block)) return void res.once('drain', pump);
        }
      };
      pump();
    });
    gw = await startGateway(routeConfig({ max_response_bytes: 1024 * 1024, instances: [instance('a', upstream.url)] }));
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
    assert.equal(res.status, 502);
    assert.match(errorMessage(res.json), /209715200 bytes, above max_response_bytes \(1048576\)/);
    await sleep(100);
    assert.ok(written < 32 * 1024 * 1024, `the upstream could write ${written} bytes before the gateway hung up`);
    assert.equal(upstream.aborted(), 1);
  });

  it('bounds chunked answers and streams by max_response_bytes too', async () => {
    const big = 'x'.repeat(3 * 1024 * 1024);
    upstream = await startRawUpstream((req, res, body) => {
      const stream = (JSON.parse(body.toString()) as { stream?: boolean }).stream === true;
      if (!stream) return void res.writeHead(200, { 'content-type': 'application/json' }).end(chatCompletion(big));
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (let i = 0; i < 40; i++) res.write(chatChunk('y'.repeat(100 * 1024)));
      res.end('data: [DONE]\n\n');
      void req;
    });
    gw = await startGateway(routeConfig({ max_response_bytes: 1024 * 1024, instances: [instance('a', upstream.url)] }));
    const whole = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
    assert.equal(whole.status, 502);
    assert.match(errorMessage(whole.json), /more than 1048576 bytes/);
    const streamed = await postJson(`${gw.url}/v1/chat/completions`, chatBody({ stream: true }));
    assert.equal(streamed.status, 200, 'the stream had started');
    assert.ok(streamed.text.length < 2 * 1024 * 1024, `the client got ${streamed.text.length} bytes`);
    assert.match(streamed.text, /above max_response_bytes|more than 1048576 bytes/);
    assert.deepEqual(breakerStates(gw), ['closed']);
  });

  it('keeps memory bounded while 20 clients each get a 200 MB answer', async function () {
    this.timeout(30_000);
    upstream = await startRawUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }); // chunked: no Content-Length to refuse early
      const block = Buffer.alloc(256 * 1024, 32);
      let sent = 0;
      const pump = (): void => {
        while (!res.destroyed && sent < 200 * 1024 * 1024) {
          sent += block.length;
          if (!res.write(block)) return void res.once('drain', pump);
        }
        if (!res.destroyed) res.end();
      };
      pump();
    });
    // No max_response_bytes: the 64 MiB default applies.
    gw = await startGateway(routeConfig({ instances: [instance('a', upstream.url)] }));
    const before = process.memoryUsage().rss;
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    const answers = await Promise.all(Array.from({ length: 20 }, () => postJson(`${gw!.url}/v1/chat/completions`, chatBody())));
    clearInterval(sampler);
    assert.deepEqual([...new Set(answers.map((a) => a.status))], [502]);
    const grewMb = (peak - before) / 1024 / 1024;
    // 20 × 64 MiB buffered at most; reading without a bound holds 20 × 200 MB (and more while joining).
    if (process.env.REPORT) console.log(`RSS grew by ${grewMb.toFixed(0)} MiB`);
    assert.ok(grewMb < 1800, `RSS grew by ${grewMb.toFixed(0)} MiB`);
  });

  it('serves the request that arrives once the reset timeout has passed, instead of a 503', async () => {
    let fail = true;
    upstream = await startRawUpstream((_req, res) => {
      if (fail) return void res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"boom"}}');
      res.writeHead(200, { 'content-type': 'application/json' }).end(chatCompletion('back'));
    });
    const breaker = { failure_threshold: 1, window_ms: 10_000, reset_timeout_ms: 300 };
    gw = await startGateway(routeConfig({ breaker, instances: [instance('only', upstream.url)] }));
    assert.equal((await postJson(`${gw.url}/v1/chat/completions`, chatBody())).status, 500);
    await sleep(20);
    assert.deepEqual(breakerStates(gw), ['open']);
    assert.equal((await postJson(`${gw.url}/v1/chat/completions`, chatBody())).status, 503, 'held out while open');
    fail = false;
    await sleep(350);
    const trial = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
    assert.equal(trial.status, 200, trial.text);
    await sleep(20);
    assert.deepEqual(breakerStates(gw), ['closed']);
  });
});
