import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { Server, ServerResponse } from 'node:http';
import { connect as h2connect, constants } from 'node:http2';
import type { ClientHttp2Session, ClientHttp2Stream } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestGateway } from '../support/gateway-harness.ts';
import { chatBody, instance, routeConfig, startGateway } from '../support/gateway-harness.ts';
import { metricValue } from '../support/raw-socket.ts';

/** An OpenAI-style upstream that streams for seconds and records which answers were cut short. */
interface SlowUpstream {
  url: string;
  started: number;
  completed: number;
  /** performance.now() of each answer the gateway abandoned before its end. */
  aborts: number[];
  close(): Promise<void>;
}

const frame = (delta: Record<string, unknown>, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-slow', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;

async function startSlowUpstream(opts: { chunks: number; every: number; chunkBytes: number }): Promise<SlowUpstream> {
  const sockets = new Set<Socket>();
  const stats: SlowUpstream = { url: '', started: 0, completed: 0, aborts: [], close: async () => {} };
  const stream = (res: ServerResponse): void => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(frame({ role: 'assistant', content: '' }));
    let sent = 0;
    const text = 'x'.repeat(opts.chunkBytes);
    const timer = setInterval(() => {
      if (sent++ < opts.chunks) {
        res.write(frame({ content: text }));
        return;
      }
      clearInterval(timer);
      res.end(`${frame({}, 'stop')}data: [DONE]\n\n`);
    }, opts.every);
    res.on('close', () => {
      clearInterval(timer);
      if (res.writableFinished) stats.completed += 1;
      else stats.aborts.push(performance.now());
    });
  };
  const server: Server = createServer((req, res) => {
    stats.started += 1;
    req.resume();
    req.on('end', () => stream(res));
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stats.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  stats.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return stats;
}

function streamingChat(session: ClientHttp2Session): ClientHttp2Stream {
  const stream = session.request({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json' });
  stream.on('error', () => {});
  stream.end(JSON.stringify(chatBody({ stream: true })));
  return stream;
}

const firstData = (stream: ClientHttp2Stream) => new Promise<void>((resolve) => stream.once('data', () => resolve()));

async function until(check: () => boolean | Promise<boolean>, maxMs: number): Promise<boolean> {
  const end = performance.now() + maxMs;
  while (performance.now() < end) {
    if (await check()) return true;
    await sleep(20);
  }
  return check();
}

describe('HTTP/2 clients that cancel or vanish mid-stream', function () {
  this.timeout(30_000);
  let up: SlowUpstream;
  let gw: TestGateway;

  afterEach(async () => {
    await gw.close();
    await up.close();
  });

  const start = async (upstream: { chunks: number; every: number; chunkBytes: number }) => {
    up = await startSlowUpstream(upstream);
    gw = await startGateway({ ...routeConfig({ instances: [instance('a', up.url)] }), admin: { host: '127.0.0.1', port: 0 } });
  };
  const inFlight = () => gw.gateway.routes[0]?.instances.get('a')?.stats.inFlight;
  const inFlightGauge = () => metricValue(gw.adminUrl ?? '', 'aipm_instance_in_flight', { route: 'r1', instance: 'a' });

  it('aborts the upstream of 100 streams reset after their first DATA frame, frees in-flight, logs each with 499', async () => {
    // Each answer would take ~2 s; an abort that works cuts it within milliseconds of the reset.
    await start({ chunks: 40, every: 50, chunkBytes: 8 });
    const session = h2connect(gw.url);
    session.on('error', () => {});
    const resets: number[] = [];
    for (let batch = 0; batch < 4; batch++) {
      await Promise.all(
        Array.from({ length: 25 }, async () => {
          const stream = streamingChat(session);
          await firstData(stream);
          stream.close(constants.NGHTTP2_CANCEL);
          resets.push(performance.now());
        }),
      );
    }
    const lastReset = Math.max(...resets);
    assert.ok(await until(() => up.aborts.length === 100, 2000), `upstream saw ${up.aborts.length} aborts of 100`);
    assert.equal(up.completed, 0, 'no upstream answer ran to its end');
    assert.ok(Math.max(...up.aborts) - lastReset < 1000, 'aborted soon after the reset, not at the end of the answer');
    assert.ok(await until(() => gw.access().length === 100, 2000), `${gw.access().length} access lines of 100`);
    assert.deepEqual(new Set(gw.access().map((a) => a['status'])), new Set([499]));
    assert.equal(inFlight(), 0);
    assert.equal(await inFlightGauge(), 0);
    session.close();
  });

  it('ends every stream of a session whose connection drops while the gateway waits for the client to read', async () => {
    // Big chunks, fast: the client stops reading, its flow-control windows fill and every stream waits for 'drain'.
    await start({ chunks: 400, every: 2, chunkBytes: 16_384 });
    const session = h2connect(gw.url);
    session.on('error', () => {});
    const streams = Array.from({ length: 10 }, () => streamingChat(session));
    await Promise.all(streams.map(firstData));
    for (const stream of streams) stream.pause();
    await sleep(500);
    assert.equal(gw.access().length, 0, 'the answers are still being written');
    session.socket.destroy();
    // Generous: under a loaded suite the aborts trickle in; the point is that all ten come.
    assert.ok(await until(() => up.aborts.length === 10, 6000), `upstream saw ${up.aborts.length} aborts of 10`);
    assert.ok(await until(() => gw.access().length === 10, 6000));
    assert.deepEqual(new Set(gw.access().map((a) => a['status'])), new Set([499]));
    assert.equal(inFlight(), 0);
  });

  it('stops waiting for the client to read once it resets a stream it had stopped reading', async () => {
    // Big chunks, fast: the client's flow-control window fills and the gateway waits for 'drain'.
    await start({ chunks: 400, every: 2, chunkBytes: 16_384 });
    const session = h2connect(gw.url);
    session.on('error', () => {});
    const stream = streamingChat(session);
    await firstData(stream);
    stream.pause();
    await sleep(500);
    assert.equal(gw.access().length, 0, 'the answer is still being written');
    stream.close(constants.NGHTTP2_CANCEL);
    assert.ok(await until(() => gw.access().length === 1, 2000), 'the request ended');
    assert.equal(gw.access()[0]?.['status'], 499);
    assert.ok(await until(() => up.aborts.length === 1, 2000), 'upstream aborted');
    assert.equal(inFlight(), 0);
    session.close();
  });
});
