import assert from 'node:assert/strict';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { createSseDecoder } from '../../lib/transport/sse-decoder.ts';
import type { SseEvent } from '../../lib/transport/sse-decoder.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { chatBody, instance, postJson, routeConfig, startGateway } from '../support/gateway-harness.ts';

function decode(text: string): SseEvent[] {
  const decoder = createSseDecoder();
  return [...decoder.push(Buffer.from(text)), ...decoder.end()];
}

function contentOf(events: SseEvent[]): string {
  let text = '';
  for (const e of events) {
    if (e.data === '[DONE]') continue;
    const chunk = JSON.parse(e.data) as { choices?: Array<{ delta?: { content?: string } }> };
    text += chunk.choices?.[0]?.delta?.content ?? '';
  }
  return text;
}

describe('streaming chat through the gateway', () => {
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

  const pair = (plugin: Record<string, unknown> = {}) =>
    routeConfig({ instances: [instance('a', a.url, { priority: 1 }), instance('b', b.url)], ...plugin });

  it('streams the provider answer and counts its tokens without showing the client the usage chunk it did not ask for', async () => {
    a.setBehavior({ kind: 'ok', content: 'one two three four', chunks: 4 });
    gw = await startGateway(pair());
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody({ stream: true }));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const events = decode(res.text);
    assert.equal(contentOf(events), 'one two three four');
    assert.equal(events.at(-1)?.data, '[DONE]');
    assert.equal(events.some((e) => e.data.includes('"usage":{')), false, 'no usage chunk for the client');
    const sent = a.requests[0]?.json as { stream_options?: { include_usage?: boolean } };
    assert.equal(sent.stream_options?.include_usage, true, 'the gateway asked the provider for usage');
    const access = gw.access()[0];
    assert.equal(access?.['request_type'], 'ai_stream');
    assert.ok(typeof access?.['completion_tokens'] === 'number' && access['completion_tokens'] > 0);
    assert.ok(typeof access?.['ttft_ms'] === 'number');
  });

  it('passes the provider bytes through unchanged when the client asked for usage itself', async () => {
    gw = await startGateway(pair());
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody({ stream: true, stream_options: { include_usage: true } }));
    const events = decode(res.text);
    assert.ok(events.some((e) => e.data.includes('"usage":{')), 'usage chunk kept');
    assert.deepEqual(a.requests[0]?.body, Buffer.from(JSON.stringify(chatBody({ stream: true, stream_options: { include_usage: true } }))));
  });

  for (const [label, behavior] of [
    ['answers 503', { kind: 'status', status: 503 }],
    ['sends an error event before any content', { kind: 'stream-error', afterChunks: 0 }],
    ['cuts the connection before any content', { kind: 'stream-cut', afterChunks: 0 }],
  ] as const) {
    it(`falls back invisibly when the first instance ${label}`, async () => {
      a.setBehavior(behavior);
      b.setBehavior({ kind: 'ok', content: 'from b', chunks: 2 });
      gw = await startGateway(pair());
      const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody({ stream: true }));
      assert.equal(res.status, 200);
      const events = decode(res.text);
      assert.equal(contentOf(events), 'from b');
      assert.equal(events.some((e) => e.data.includes('"error"')), false);
      assert.equal(a.calls(), 1);
      assert.equal(b.calls(), 1);
    });
  }

  it('never retries once content reached the client: the stream ends with an error chunk and the status stays 200', async () => {
    a.setBehavior({ kind: 'stream-cut', afterChunks: 2 });
    gw = await startGateway(pair());
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody({ stream: true }));
    assert.equal(res.status, 200);
    const events = decode(res.text);
    const last = JSON.parse(events.at(-1)?.data ?? '{}') as { error?: { message: string } };
    assert.ok(last.error, 'the last event is an error');
    assert.ok(contentOf(events.slice(0, -1)).length > 0, 'content came first');
    assert.equal(a.calls(), 1);
    assert.equal(b.calls(), 0, 'no second upstream call');
  });

  it('relays an in-band error after content and does not retry', async () => {
    a.setBehavior({ kind: 'stream-error', afterChunks: 2 });
    gw = await startGateway(pair());
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody({ stream: true }));
    assert.equal(res.status, 200);
    assert.ok(decode(res.text).some((e) => e.data.includes('"error"')));
    assert.equal(b.calls(), 0);
  });

  it('aborts the upstream request when the client disconnects, without counting it as a failure', async () => {
    a.setBehavior({ kind: 'ok', chunks: 50, chunkDelayMs: 50 });
    gw = await startGateway(pair());
    const controller = new AbortController();
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(chatBody({ stream: true })),
      signal: controller.signal,
    });
    const reader = res.body?.getReader();
    await reader?.read();
    controller.abort();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const stats = gw.gateway.routes[0]?.instances.get('a')?.stats;
    assert.equal(stats?.inFlight, 0, 'upstream call released');
    assert.equal(stats?.failures, 0);
    assert.equal(b.calls(), 0);
    assert.equal(gw.access()[0]?.['status'], 499);
  });

  it('lets a stream in flight finish on graceful shutdown, then stops accepting', async () => {
    a.setBehavior({ kind: 'ok', content: 'a b c d e f', chunks: 6, chunkDelayMs: 60 });
    gw = await startGateway(pair());
    const url = gw.url;
    const pending = postJson(`${url}/v1/chat/completions`, chatBody({ stream: true }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closing = gw.gateway.close();
    const res = await pending;
    await closing;
    gw = undefined;
    assert.equal(res.status, 200);
    assert.equal(contentOf(decode(res.text)), 'a b c d e f');
    await assert.rejects(fetch(`${url}/v1/chat/completions`, { method: 'POST', body: '{}' }));
  });
});
