import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AttemptResult } from '../../lib/pipeline/attempt.ts';
import { openaiChat } from '../../lib/protocols/openai-chat.ts';
import { encodeSseData, SSE_DONE } from '../../lib/transport/sse-encoder.ts';
import { freePort } from '../support/free-port.ts';
import { chatBody, postJson } from '../support/gateway-harness.ts';
import { NOTHING_WRITTEN, buildRoute, startAttemptFront } from '../support/pipeline-harness.ts';
import type { Front, TestRoute } from '../support/pipeline-harness.ts';
import { chatChunk, chatCompletion, startRawUpstream } from '../support/raw-upstream.ts';
import type { RawHandler, RawUpstream } from '../support/raw-upstream.ts';

// One attempt against a real upstream on 127.0.0.1: each outcome comes back as one AttemptResult,
// the client sees bytes only when the attempt answered, and the instance's in-flight count is back
// to 0 whatever happened.

const KEY = 'sk-a-secret-key-123456';
const TIMEOUT_MS = 600;

let raw: RawUpstream;
let handler: RawHandler;
let test: TestRoute | undefined;
let front: (Front & { next(): Promise<AttemptResult> }) | undefined;

describe('runAttempt', () => {
  before(async () => {
    raw = await startRawUpstream((req, res, body) => handler(req, res, body));
  });
  after(() => raw.close());
  afterEach(async () => {
    await front?.close();
    await test?.close();
    front = undefined;
    test = undefined;
  });

  async function setup(url: string, plugin: Record<string, unknown> = {}) {
    test = buildRoute({
      timeout: TIMEOUT_MS,
      max_response_bytes: 64 * 1024,
      instances: [{ name: 'a', provider: 'openai', auth: { header: { Authorization: `Bearer ${KEY}` } }, override: { endpoint: url } }],
      ...plugin,
    });
    front = await startAttemptFront(test, 'a');
    return { test, front };
  }

  function inFlight(): number {
    assert.ok(test);
    return test.instance('a').stats.inFlight;
  }

  it('answers a JSON success with the upstream bytes, its usage, model and latency', async () => {
    const answer = chatCompletion('Hello');
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': 'up-1', 'set-cookie': 'private=1' });
      res.end(answer);
    };
    const { front } = await setup(raw.url);
    const client = await postJson(`${front.url}/v1/chat/completions`, chatBody());
    const result = await front.next();
    assert.equal(client.status, 200);
    assert.equal(client.text, answer);
    assert.equal(client.headers.get('x-request-id'), 'up-1');
    assert.equal(client.headers.get('set-cookie'), null, 'only request ids and rate-limit headers are relayed');
    assert.equal(result.kind, 'responded');
    assert.equal(result.status, 200);
    assert.equal(result.error, undefined);
    assert.deepEqual(result.usage, { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 });
    assert.equal(result.model, 'raw-model');
    assert.equal(result.upstreamProtocol, 'openai-chat');
    assert.ok(result.latencyMs !== undefined && result.latencyMs > 0);
    assert.ok(result.durationMs >= 0);
    assert.equal(inFlight(), 0);
    assert.equal(test?.instance('a').stats.requests, 1);
  });

  const statuses: Array<{ status: number; headers: Record<string, string> }> = [
    { status: 400, headers: {} },
    { status: 429, headers: { 'retry-after': '7' } },
    { status: 503, headers: {} },
  ];
  for (const { status, headers } of statuses) {
    it(`fails on an upstream ${status}: its status, a scrubbed relay body and reason, nothing sent to the client`, async () => {
      handler = (_req, res) => {
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify({ error: { message: `Incorrect API key provided: ${KEY}`, type: 'invalid_request_error' } }));
      };
      const { front } = await setup(raw.url);
      const client = await postJson(`${front.url}/v1/chat/completions`, chatBody());
      const result = await front.next();
      assert.equal(client.status, NOTHING_WRITTEN);
      assert.equal(result.kind, 'failed');
      assert.equal(result.status, status);
      assert.equal(result.error?.code, 'UPSTREAM_STATUS');
      assert.ok(result.reason?.startsWith(`HTTP ${status}: Incorrect API key provided:`), result.reason);
      assert.ok(result.relay);
      assert.equal(result.relay.status, status);
      for (const text of [result.reason, String(result.relay.body), result.error.message]) assert.ok(!text?.includes(KEY), `no key in ${text}`);
      assert.match(String(result.relay.body), /Incorrect API key provided/);
      if (headers['retry-after']) assert.equal(result.relay.headers['retry-after'], headers['retry-after']);
      assert.equal(inFlight(), 0);
    });
  }

  it('fails with UPSTREAM_CONNECT when nothing listens on the instance port', async () => {
    const port = await freePort();
    const { front } = await setup(`http://127.0.0.1:${port}`);
    const client = await postJson(`${front.url}/v1/chat/completions`, chatBody());
    const result = await front.next();
    assert.equal(client.status, NOTHING_WRITTEN);
    assert.equal(result.kind, 'failed');
    assert.equal(result.error?.code, 'UPSTREAM_CONNECT');
    assert.equal(result.status, 502);
    assert.match(result.error.message, /ECONNREFUSED/);
    assert.equal(inFlight(), 0);
  });

  it('fails with UPSTREAM_TIMEOUT, naming the configured timeout, when the upstream never answers', async () => {
    handler = () => undefined; // hangs
    const { front } = await setup(raw.url);
    const client = await postJson(`${front.url}/v1/chat/completions`, chatBody());
    const result = await front.next();
    assert.equal(client.status, NOTHING_WRITTEN);
    assert.equal(result.error?.code, 'UPSTREAM_TIMEOUT');
    assert.equal(result.status, 504);
    assert.match(result.error.message, new RegExp(`after ${TIMEOUT_MS} ms`));
    assert.ok(result.durationMs >= TIMEOUT_MS - 50, `waited the timeout (${result.durationMs} ms)`);
    assert.equal(inFlight(), 0);
  });

  it('refuses an answer whose Content-Length is over max_response_bytes without waiting for its body', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100000' });
      res.write('{"id":"x",'); // and never the rest: reading it would end in a timeout instead
    };
    const { front } = await setup(raw.url, { timeout: 5000 });
    const started = Date.now();
    const client = await postJson(`${front.url}/v1/chat/completions`, chatBody());
    const result = await front.next();
    assert.equal(client.status, NOTHING_WRITTEN);
    assert.equal(result.error?.code, 'UPSTREAM_RESPONSE_TOO_LARGE');
    assert.match(result.error.message, /answered 100000 bytes, above max_response_bytes \(65536\)/);
    assert.ok(Date.now() - started < 4000, 'refused at the headers');
    assert.equal(inFlight(), 0);
  });

  it('fails with an InternalError, calling no upstream, when the request body cannot be built', async () => {
    handler = (_req, res) => {
      res.end(chatCompletion('never'));
    };
    const { front } = await setup(raw.url, {
      instances: [{ name: 'a', provider: 'openai', auth: { header: { Authorization: `Bearer ${KEY}` } }, options: { temperature: 0.1 }, override: { endpoint: raw.url } }],
    });
    const before = raw.calls();
    // Valid JSON that JSON.parse reads but JSON.stringify cannot write back (too deep for its recursion).
    const deep = `{"model":"m","messages":[{"role":"user","content":"hi"}],"metadata":${'['.repeat(20000)}${']'.repeat(20000)}}`;
    const client = await postJson(`${front.url}/v1/chat/completions`, deep);
    const result = await front.next();
    assert.equal(client.status, NOTHING_WRITTEN);
    assert.equal(result.error?.code, 'INTERNAL_ERROR');
    assert.equal(result.status, 500);
    assert.match(result.error.message, /could not build the request for instance a/);
    assert.equal(raw.calls(), before);
    assert.equal(inFlight(), 0);
  });

  it('asks the upstream for usage on a stream, hides it from a client that did not ask, and counts it', async () => {
    let sent: unknown;
    handler = (_req, res, body) => {
      sent = JSON.parse(body.toString('utf8'));
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(
        chatChunk('Hi') +
          chatChunk('', 'stop') +
          encodeSseData({ id: 'x', object: 'chat.completion.chunk', created: 1, model: 'raw-model', choices: [], usage: { prompt_tokens: 4, completion_tokens: 1, total_tokens: 5 } }) +
          SSE_DONE,
      );
    };
    const { front } = await setup(raw.url);
    const client = await postJson(`${front.url}/v1/chat/completions`, chatBody({ stream: true }));
    const result = await front.next();
    assert.deepEqual((sent as { stream_options?: unknown }).stream_options, { include_usage: true });
    assert.equal(client.status, 200);
    const decoder = openaiChat.createDecoder();
    const events = [...decoder.push(Buffer.from(client.text)), ...decoder.end()];
    assert.ok(!events.some((e) => e.data !== '[DONE]' && openaiChat.usageEvents?.isUsageOnly(JSON.parse(e.data))));
    assert.equal(events.at(-1)?.data, '[DONE]');
    assert.equal(result.kind, 'responded');
    assert.deepEqual(result.usage, { prompt_tokens: 4, completion_tokens: 1, total_tokens: 5 });
    assert.ok(result.ttftMs !== undefined && result.ttftMs >= 0);
    assert.equal(inFlight(), 0);
  });

  it('fails, writing nothing, when a stream reports an error before any content', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`${encodeSseData({ error: { message: 'overloaded', type: 'server_error' } })}`);
    };
    const { front } = await setup(raw.url);
    const client = await postJson(`${front.url}/v1/chat/completions`, chatBody({ stream: true }));
    const result = await front.next();
    assert.equal(client.status, NOTHING_WRITTEN);
    assert.equal(result.kind, 'failed');
    assert.equal(result.error?.code, 'UPSTREAM_STREAM');
    assert.equal(inFlight(), 0);
  });

  it('ends with CLIENT_ABORTED (499) and aborts the upstream call when the client leaves', async () => {
    handler = () => undefined; // still thinking when the client gives up
    const { front } = await setup(raw.url, { timeout: 10_000 });
    const aborted = raw.aborted();
    const controller = new AbortController();
    const pending = fetch(`${front.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(chatBody()), signal: controller.signal }).catch(() => undefined);
    while (inFlight() === 0) await sleep(5);
    controller.abort();
    await pending;
    const result = await front.next();
    assert.equal(result.kind, 'failed');
    assert.equal(result.error?.code, 'CLIENT_ABORTED');
    assert.equal(result.status, 499);
    for (let i = 0; i < 50 && raw.aborted() === aborted; i++) await sleep(10);
    assert.equal(raw.aborted(), aborted + 1, 'the upstream request was cancelled');
    assert.equal(inFlight(), 0);
  });

  it('reports 499 when a slow client leaves a stream while the gateway waits for it to drain', async () => {
    const piece = chatChunk('z'.repeat(64 * 1024));
    handler = async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (let i = 0; i < 256 && !res.destroyed; i++) if (!res.write(piece)) await new Promise((r) => res.once('drain', r));
      res.end(chatChunk('', 'stop') + SSE_DONE);
    };
    const { front } = await setup(raw.url, { timeout: 10_000, max_response_bytes: 64 * 1024 * 1024 });
    const url = new URL(`${front.url}/v1/chat/completions`);
    const req = httpRequest(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => res.pause());
    req.on('error', () => undefined);
    req.end(JSON.stringify(chatBody({ stream: true })));
    await sleep(500); // the gateway is now blocked on the paused client
    req.destroy();
    const result = await front.next();
    assert.equal(result.status, 499);
    assert.equal(result.error?.code, 'CLIENT_ABORTED');
  });
});
