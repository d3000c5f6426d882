import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestGateway } from '../support/gateway-harness.ts';
import { chatBody, instance, postJson, routeConfig, startGateway } from '../support/gateway-harness.ts';
import type { RawUpstream } from '../support/raw-upstream.ts';
import { chatChunk, chatCompletion, startRawUpstream } from '../support/raw-upstream.ts';

/** Opens a stream through the gateway; resolves with the ms to its first body byte and a way to finish reading. */
async function firstByte(url: string): Promise<{ ms: number; rest: Promise<string> }> {
  const started = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(chatBody({ stream: true })),
  });
  const reader = res.body!.getReader();
  const first = await reader.read();
  const ms = performance.now() - started;
  const decoder = new TextDecoder();
  const rest = (async () => {
    let text = decoder.decode(first.value);
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += decoder.decode(r.value);
    return text;
  })();
  return { ms, rest };
}

describe('upstream capacity is not capped by the keep-alive setting', () => {
  let upstream: RawUpstream | undefined;
  let other: RawUpstream | undefined;
  let gw: TestGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    await upstream?.close();
    await other?.close();
    gw = upstream = other = undefined;
  });

  it('starts 200 concurrent slow streams to one origin at once, then keeps only keepalive_pool idle connections', async function () {
    this.timeout(20_000);
    // Each stream sends its first chunk at once and ends only when all 200 are open upstream at the
    // same time (or after 10 s): with a connection cap the rest would wait behind the first ones, the
    // upstream would never hold 200 at once, and the streams would end by the 10 s backstop instead.
    const total = 200;
    let open = 0;
    let mostAtOnce = 0;
    const waiting: Array<() => void> = [];
    let released = false;
    const releaseAll = (): void => {
      released = true;
      for (const end of waiting.splice(0)) end();
    };
    const backstop = setTimeout(releaseAll, 10_000);
    upstream = await startRawUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chatChunk('first'));
      open += 1;
      mostAtOnce = Math.max(mostAtOnce, open);
      waiting.push(() => {
        open -= 1;
        res.end(`${chatChunk('', 'stop')}data: [DONE]\n\n`);
      });
      if (open === total || released) releaseAll();
    });
    gw = await startGateway(routeConfig({ keepalive_pool: 5, instances: [instance('a', upstream.url)] }));
    const streams = await Promise.all(Array.from({ length: total }, () => firstByte(gw!.url)));
    if (process.env.REPORT) console.log(`${total} streams: slowest first byte ${Math.max(...streams.map((s) => s.ms)).toFixed(0)} ms`);
    const texts = await Promise.all(streams.map((s) => s.rest));
    clearTimeout(backstop);
    assert.ok(texts.every((t) => t.includes('[DONE]')), 'every stream completed');
    assert.equal(mostAtOnce, total, `the upstream held ${mostAtOnce} streams at once, not all ${total}`);
    assert.ok(upstream.openSockets() >= 5);
    await sleep(300);
    assert.ok(upstream.openSockets() <= 5, `${upstream.openSockets()} idle upstream connections kept, keepalive_pool is 5`);
    // The kept connections are reused and new ones are made as needed.
    assert.equal((await postJson(`${gw.url}/v1/chat/completions`, chatBody({ stream: true }))).status, 200);
  });

  it('queues beyond max_concurrency inside `timeout`, then falls back without counting a failure', async function () {
    this.timeout(10_000);
    // Busy answers slowly but steadily (a byte every 150 ms, so its own idle timeout never fires): it
    // holds its slots for ~1.2 s, longer than a queued request may wait.
    upstream = await startRawUpstream((_req, res) => {
      const body = chatCompletion('slow');
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(body.length) });
      const head = body.slice(0, 8);
      let sent = 0;
      const tick = setInterval(() => {
        if (sent < head.length) return void res.write(head[sent++]);
        clearInterval(tick);
        res.end(body.slice(head.length));
      }, 150);
    });
    other = await startRawUpstream((_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(chatCompletion('other')));
    gw = await startGateway(
      routeConfig({
        timeout: 400,
        instances: [instance('busy', upstream.url, { priority: 1, max_concurrency: 2 }), instance('spare', other.url, { priority: 0 })],
      }),
    );
    // The first two hold busy's slots; the other three wait 400 ms (`timeout`), then go to spare.
    const answers = await Promise.all(Array.from({ length: 5 }, () => postJson(`${gw!.url}/v1/chat/completions`, chatBody())));
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200, 200]);
    assert.equal(upstream.calls(), 2, 'busy never had more than two requests');
    assert.equal(other.calls(), 3);
    const served = answers.map((a) => (a.json as { choices: Array<{ message: { content: string } }> }).choices[0]?.message.content);
    assert.deepEqual(served.sort(), ['other', 'other', 'other', 'slow', 'slow']);
    const saturated = gw.access().flatMap((a) => a['attempts'] as Array<{ instance: string; reason?: string }>).filter((a) => /no free slot/.test(a.reason ?? ''));
    assert.equal(saturated.length, 3);
    const busy = gw.gateway.routes[0]?.instances.get('busy');
    assert.equal(busy?.stats.failures, 0, 'a full queue is not the instance failing');
    assert.equal(busy?.breaker.snapshot().state, 'closed');
    assert.equal(busy?.stats.inFlight, 0);
  });
});
