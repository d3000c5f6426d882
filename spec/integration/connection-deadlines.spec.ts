import assert from 'node:assert/strict';
import { connect as h2connect, constants } from 'node:http2';
import type { ClientHttp2Session, ClientHttp2Stream } from 'node:http2';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { chatBody, instance, postJson, startGateway } from '../support/gateway-harness.ts';
import type { RawConnection } from '../support/raw-socket.ts';
import { metricValue, parseRawResponse, rawConnect } from '../support/raw-socket.ts';

// Distinct small deadlines, so the time a connection lasted tells which one closed it. A deadline may
// fire late on a loaded machine (MARGIN), never early (EARLY covers timer and clock granularity).
const FIRST_BYTE = 300;
const HEADERS = 500;
const BODY = 700;
const IDLE = 1100;
const MARGIN = 1500;
const EARLY = 60;

const chatHead = (length: number) =>
  `POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;

/** Asserts the connection closed `deadline` ms (give or take the margins) after `since`. */
async function assertClosedAfter(conn: RawConnection, since: number, deadline: number): Promise<number> {
  const closedAt = await conn.waitClosed(since + deadline + MARGIN - performance.now());
  assert.ok(closedAt !== undefined, `still open ${deadline + MARGIN} ms later (deadline ${deadline} ms)`);
  const lasted = closedAt - since;
  assert.ok(lasted >= deadline - EARLY, `closed after ${Math.round(lasted)} ms, before its ${deadline} ms deadline`);
  return lasted;
}

function sessionClosed(session: ClientHttp2Session): Promise<number> {
  return new Promise((resolve) => session.once('close', () => resolve(performance.now())));
}

async function assertSessionClosedAfter(session: ClientHttp2Session, closed: Promise<number>, since: number, deadline: number): Promise<void> {
  const at = await Promise.race([closed, sleep(since + deadline + MARGIN - performance.now()).then(() => undefined)]);
  assert.ok(at !== undefined, `HTTP/2 session still open ${deadline + MARGIN} ms later (deadline ${deadline} ms)`);
  assert.ok(at - since >= deadline - EARLY, `session closed after ${Math.round(at - since)} ms, before its ${deadline} ms deadline`);
  assert.ok(session.destroyed || session.closed);
}

describe('connection deadlines on the data-plane and admin listeners', function () {
  this.timeout(20_000);
  let up: FakeOpenAI;
  let gw: TestGateway;
  let adminUrl: string;
  const timedOut = (listener: string, stage: string) => metricValue(adminUrl, 'aipm_connections_timed_out_total', { listener, stage });

  before(async () => {
    up = await startFakeOpenAI({ name: 'up' });
    gw = await startGateway({
      server: {
        host: '127.0.0.1',
        port: 0,
        first_byte_timeout_ms: FIRST_BYTE,
        headers_timeout_ms: HEADERS,
        body_timeout_ms: BODY,
        idle_timeout_ms: IDLE,
      },
      admin: { host: '127.0.0.1', port: 0 },
      routes: [{ id: 'r1', uris: ['/v1/*'], plugins: { 'ai-proxy-multi': { instances: [instance('up', up.url)] } } }],
    });
    adminUrl = gw.adminUrl ?? '';
  });
  after(async () => {
    await gw.close();
    await up.close();
  });
  beforeEach(() => up.reset());

  describe('HTTP/1.1 on the data plane', () => {
    it('closes a connection that sends nothing after first_byte_timeout_ms', async () => {
      const before = await timedOut('data', 'first_byte');
      const conn = await rawConnect(gw.url);
      await assertClosedAfter(conn, conn.openedAt, FIRST_BYTE);
      assert.equal(conn.received(), '');
      assert.equal(await timedOut('data', 'first_byte'), before + 1);
    });

    it('answers 408 in JSON and closes a connection whose request line stops halfway', async () => {
      const before = await timedOut('data', 'headers');
      const conn = await rawConnect(gw.url);
      const sent = performance.now();
      conn.socket.write('POST /v1/chat/comp');
      await assertClosedAfter(conn, sent, HEADERS);
      const res = parseRawResponse(conn.received());
      assert.equal(res.status, 408);
      assert.equal(res.headers['connection'], 'close');
      assert.deepEqual((res.json as { error: { code: string } }).error.code, 'request_timeout');
      assert.equal(await timedOut('data', 'headers'), before + 1);
    });

    it('holds the headers deadline from the first byte even while header bytes keep trickling in', async () => {
      const conn = await rawConnect(gw.url);
      const sent = performance.now();
      conn.socket.write('POST /v1/chat/completions HTTP/1.1\r\n');
      const trickle = setInterval(() => conn.socket.writable && conn.socket.write('X-Slow: 1\r\n'), 150);
      try {
        await assertClosedAfter(conn, sent, HEADERS);
      } finally {
        clearInterval(trickle);
      }
      assert.ok((conn.closedAt() ?? 0) - sent < BODY, 'closed by the headers deadline, not a gap timer');
    });

    it('closes a connection whose body stops, body_timeout_ms after its last byte, not while bytes keep coming', async () => {
      const before = await timedOut('data', 'body');
      const body = JSON.stringify(chatBody());
      const conn = await rawConnect(gw.url);
      conn.socket.write(chatHead(body.length));
      // Gaps shorter than the deadline, for longer than the deadline in total: the connection lives.
      let last = performance.now();
      for (let i = 0; i < 4; i++) {
        conn.socket.write(body.slice(i, i + 1));
        last = performance.now();
        await sleep(BODY / 2);
      }
      assert.equal(conn.closedAt(), undefined, 'a body whose bytes keep coming is not cut');
      await assertClosedAfter(conn, last, BODY);
      assert.equal(up.calls(), 0);
      assert.equal(await timedOut('data', 'body'), before + 1);
    });

    it('closes an idle keep-alive connection after idle_timeout_ms, and the next request on one has the headers deadline', async () => {
      const before = await timedOut('data', 'idle');
      const request = 'GET /nowhere HTTP/1.1\r\nHost: gw\r\n\r\n';
      const idle = await rawConnect(gw.url);
      idle.socket.write(request);
      while (!idle.received().includes('"error"')) await sleep(10);
      const answered = performance.now();
      assert.match(idle.received(), /^HTTP\/1.1 404/);
      assert.match(idle.received(), /keep-alive: timeout=1/i, 'the client is told how long the connection may idle');
      await assertClosedAfter(idle, answered, IDLE);
      assert.equal(await timedOut('data', 'idle'), before + 1);

      const second = await rawConnect(gw.url);
      second.socket.write(request);
      while (!second.received().includes('"error"')) await sleep(10);
      await sleep(200);
      const sent = performance.now();
      second.socket.write('GET /nowh');
      await assertClosedAfter(second, sent, HEADERS);
      assert.ok((second.closedAt() ?? 0) - sent < IDLE, 'closed by the headers deadline');
      assert.match(second.received(), /HTTP\/1.1 408/);
    });

    it('keeps a kept-alive connection that is reused before its idle deadline', async () => {
      const conn = await rawConnect(gw.url);
      for (let i = 1; i <= 3; i++) {
        conn.socket.write('GET /nowhere HTTP/1.1\r\nHost: gw\r\n\r\n');
        while ((conn.received().match(/HTTP\/1.1 404/g) ?? []).length < i) await sleep(10);
        await sleep(IDLE / 2);
      }
      assert.equal(conn.closedAt(), undefined);
      conn.socket.destroy();
    });
  });

  describe('HTTP/2 on the data plane', () => {
    it('closes a session that sends only the preface after headers_timeout_ms', async () => {
      const before = await timedOut('data', 'headers');
      const session = h2connect(gw.url);
      session.on('error', () => {});
      const closed = sessionClosed(session);
      const start = performance.now();
      await assertSessionClosedAfter(session, closed, start, HEADERS);
      assert.equal(await timedOut('data', 'headers'), before + 1);
    });

    it('resets a stream whose body never comes after body_timeout_ms, then closes the idle session', async () => {
      const before = await timedOut('data', 'body');
      const session = h2connect(gw.url);
      session.on('error', () => {});
      const closed = sessionClosed(session);
      const stream = session.request({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json' }, { endStream: false });
      stream.on('error', () => {});
      const sent = performance.now();
      const resetAt = await new Promise<number>((resolve) => stream.once('close', () => resolve(performance.now())));
      assert.equal(stream.rstCode, constants.NGHTTP2_CANCEL);
      assert.ok(resetAt - sent >= BODY - EARLY && resetAt - sent <= BODY + MARGIN, `reset after ${Math.round(resetAt - sent)} ms`);
      await assertSessionClosedAfter(session, closed, resetAt, IDLE);
      assert.equal(up.calls(), 0);
      assert.equal(await timedOut('data', 'body'), before + 1);
    });

    it('closes an idle session after idle_timeout_ms even while the client keeps pinging', async () => {
      const before = await timedOut('data', 'idle');
      const session = h2connect(gw.url);
      session.on('error', () => {});
      const closed = sessionClosed(session);
      const stream = session.request({ ':method': 'GET', ':path': '/nowhere' });
      stream.resume();
      const status = await new Promise<number>((resolve) => stream.once('response', (h) => resolve(Number(h[':status']))));
      assert.equal(status, 404);
      await new Promise((resolve) => stream.once('close', resolve));
      const idleSince = performance.now();
      const pings = setInterval(() => !session.destroyed && session.ping(() => {}), 150);
      try {
        await assertSessionClosedAfter(session, closed, idleSince, IDLE);
      } finally {
        clearInterval(pings);
      }
      assert.equal(await timedOut('data', 'idle'), before + 1);
    });
  });

  it('lets a streamed answer run far longer than every deadline, over HTTP/1.1 and HTTP/2', async () => {
    const slow = { kind: 'delay', ms: IDLE + 200, then: { kind: 'ok', content: 'slow but steady', chunks: 1, chunkDelayMs: IDLE + 200 } } as const;
    up.setBehavior(slow);
    const h1 = postJson(`${gw.url}/v1/chat/completions`, chatBody({ stream: true }));

    const session = h2connect(gw.url);
    const stream: ClientHttp2Stream = session.request({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json' });
    stream.end(JSON.stringify(chatBody({ stream: true })));
    let h2text = '';
    stream.on('data', (chunk: Buffer) => (h2text += chunk.toString('utf8')));
    await new Promise((resolve) => stream.once('end', resolve));
    session.close();

    const res = await h1;
    assert.equal(res.status, 200);
    assert.match(res.text, /\[DONE\]/);
    assert.match(h2text, /\[DONE\]/);
  });

  describe('the admin listener', () => {
    it('closes a connection that sends nothing, one with half a request line (408) and an idle keep-alive one', async () => {
      const silent = await rawConnect(adminUrl);
      const half = await rawConnect(adminUrl);
      const sent = performance.now();
      half.socket.write('GET /heal');
      const idle = await rawConnect(adminUrl);
      idle.socket.write('GET /healthz HTTP/1.1\r\nHost: admin\r\n\r\n');
      while (!idle.received().includes('"ok"')) await sleep(10);
      const answered = performance.now();

      await assertClosedAfter(silent, silent.openedAt, FIRST_BYTE);
      await assertClosedAfter(half, sent, HEADERS);
      assert.equal(parseRawResponse(half.received()).status, 408);
      await assertClosedAfter(idle, answered, IDLE);
      assert.equal(await timedOut('admin', 'first_byte'), 1);
      assert.equal(await timedOut('admin', 'headers'), 1);
    });
  });

  describe('requests node:http cannot parse', () => {
    for (const listener of ['data', 'admin'] as const) {
      it(`answers oversized headers with 431 and a garbled request line with 400, in JSON, and closes (${listener})`, async () => {
        const url = listener === 'data' ? gw.url : adminUrl;
        const big = await rawConnect(url);
        big.socket.write(`GET /v1/models HTTP/1.1\r\nHost: gw\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
        assert.notEqual(await big.waitClosed(MARGIN), undefined, 'connection closed');
        const tooLarge = parseRawResponse(big.received());
        assert.equal(tooLarge.status, 431);
        assert.match(tooLarge.headers['content-type'] ?? '', /application\/json/);
        assert.deepEqual(tooLarge.json, {
          error: { message: 'request headers are too large', type: 'invalid_request_error', param: null, code: 'headers_too_large' },
        });

        const garbled = await rawConnect(url);
        garbled.socket.write('HELLO THERE\r\n\r\n');
        assert.notEqual(await garbled.waitClosed(MARGIN), undefined, 'connection closed');
        const bad = parseRawResponse(garbled.received());
        assert.equal(bad.status, 400);
        const error = (bad.json as { error: { code: string; type: string; message: string } }).error;
        assert.equal(error.code, 'malformed_request');
        assert.equal(error.type, 'invalid_request_error');
        assert.match(error.message, /^malformed HTTP request/);
      });
    }
  });
});

describe('server.max_connections', () => {
  let gw: TestGateway;
  let up: FakeOpenAI;
  before(async () => {
    up = await startFakeOpenAI({ name: 'up' });
    gw = await startGateway({
      server: { host: '127.0.0.1', port: 0, max_connections: 2 },
      admin: { host: '127.0.0.1', port: 0 },
      routes: [{ id: 'r1', uris: ['/v1/*'], plugins: { 'ai-proxy-multi': { instances: [instance('up', up.url)] } } }],
    });
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  it('closes the connection over the limit at accept, counts it, and serves again once one closes', async () => {
    const adminUrl = gw.adminUrl ?? '';
    const first = await rawConnect(gw.url);
    const second = await rawConnect(gw.url);
    const extra = await rawConnect(gw.url);
    extra.socket.write(chatHead(2));
    assert.notEqual(await extra.waitClosed(MARGIN), undefined, 'the connection over the limit is closed');
    assert.equal(extra.received(), '', 'and gets nothing');
    assert.equal(first.closedAt(), undefined);
    assert.equal(second.closedAt(), undefined);
    assert.equal(await metricValue(adminUrl, 'aipm_connections_rejected_total', { listener: 'data' }), 1);
    assert.equal(await metricValue(adminUrl, 'aipm_connections_open', { listener: 'data' }), 2);

    first.socket.destroy();
    await first.waitClosed(MARGIN);
    await sleep(50);
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
    assert.equal(res.status, 200);
    second.socket.destroy();
  });
});
