import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { TestGateway } from '../support/gateway-harness.ts';
import { chatBody, instance, postJson, routeConfig, startGateway } from '../support/gateway-harness.ts';
import type { RawUpstream } from '../support/raw-upstream.ts';
import { chatChunk, chatCompletion, startRawUpstream } from '../support/raw-upstream.ts';

// Each phase limit fires on its own phase, against real sockets, while `timeout` (10 s) and the other
// phase limits are far away: the message names the limit that fired and the attempt ends near it.

const FAR = 10_000;

function errorMessage(json: unknown): string {
  return (json as { error?: { message?: string } }).error?.message ?? '';
}

function attempts(gw: TestGateway): Array<{ instance: string; status: number; duration_ms: number; reason?: string }> {
  return gw.access()[0]?.['attempts'] as Array<{ instance: string; status: number; duration_ms: number; reason?: string }>;
}

/**
 * A port whose accept queue is full: a listening socket (in a child process, since Node always
 * accepts) that never accepts, with backlog 0 and its one queued slot taken. Linux then drops further
 * SYNs, so a connect hangs, exactly like an unreachable host, offline and without root.
 */
async function fullBacklog(): Promise<{ port: number; close(): Promise<void> }> {
  const script = "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()\n";
  const child: ChildProcess = spawn('python3', ['-c', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const port = Number(line.toString().trim());
  const fillers: Socket[] = [];
  // Take the queued slot(s); the kernel allows backlog + 1 completed connections.
  for (let i = 0; i < 3; i += 1) {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    fillers.push(s);
  }
  await new Promise((r) => setTimeout(r, 100));
  return {
    port,
    close: async () => {
      for (const s of fillers) s.destroy();
      child.stdin?.end();
      child.kill();
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

/** Accepts connections and never reads from them: a peer that stopped reading. */
async function neverReads(): Promise<{ url: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer({ pauseOnConnect: true }, (s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('upstream timeouts, each on its own phase', function () {
  this.timeout(20_000);
  let gw: TestGateway | undefined;
  let upstream: RawUpstream | undefined;
  let second: RawUpstream | undefined;
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    await gw?.close();
    await upstream?.close();
    await second?.close();
    for (const c of cleanups.splice(0)) await c();
    gw = upstream = second = undefined;
  });

  it('connect_timeout: a connection that is never accepted fails after connect_timeout and falls back', async () => {
    const dead = await fullBacklog();
    cleanups.push(dead.close);
    second = await startRawUpstream((_req, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end(chatCompletion('from b')));
    gw = await startGateway(
      routeConfig({
        timeout: FAR,
        connect_timeout: 300,
        read_timeout: FAR,
        instances: [instance('a', `http://127.0.0.1:${dead.port}`, { priority: 1 }), instance('b', second.url)],
      }),
    );
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
    assert.equal(res.status, 200);
    assert.match(res.text, /from b/);
    const [a] = attempts(gw);
    assert.equal(a?.instance, 'a');
    assert.equal(a?.status, 504);
    assert.match(String(a?.reason), /after 300 ms connecting \(connect_timeout\)/);
    assert.ok(a && a.duration_ms >= 290 && a.duration_ms < 2000, `connect phase took ${a?.duration_ms} ms`);
  });

  it('send_timeout: an upstream that stops reading the body fails after send_timeout, not timeout', async () => {
    const stuck = await neverReads();
    cleanups.push(stuck.close);
    gw = await startGateway(routeConfig({ timeout: FAR, send_timeout: 400, instances: [instance('a', stuck.url)] }));
    // Far more than loopback socket buffers hold, so the write has to wait for the peer.
    const big = chatBody({ messages: [{ role: 'user', content: 'x'.repeat(32 * 1024 * 1024) }] });
    const started = performance.now();
    const res = await postJson(`${gw.url}/v1/chat/completions`, big);
    const took = performance.now() - started;
    assert.equal(res.status, 504);
    assert.match(errorMessage(res.json), /after 400 ms writing the request \(send_timeout\)/);
    assert.ok(took < FAR / 2, `took ${took} ms`);
  });

  it('read_timeout: an upstream that takes the request and never answers fails after read_timeout', async () => {
    upstream = await startRawUpstream(() => undefined);
    gw = await startGateway(routeConfig({ timeout: FAR, read_timeout: 300, instances: [instance('a', upstream.url)] }));
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody());
    assert.equal(res.status, 504);
    assert.match(errorMessage(res.json), /after 300 ms waiting for the answer \(read_timeout\)/);
    const [a] = attempts(gw);
    assert.ok(a && a.duration_ms >= 290 && a.duration_ms < 1500, `read phase took ${a?.duration_ms} ms`);
  });

  it('read_timeout: a stream that stalls between chunks ends with an error after read_timeout', async () => {
    upstream = await startRawUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(chatChunk('first words'));
    });
    gw = await startGateway(routeConfig({ timeout: FAR, read_timeout: 300, instances: [instance('a', upstream.url)] }));
    const started = performance.now();
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody({ stream: true }));
    const took = performance.now() - started;
    assert.equal(res.status, 200);
    assert.match(res.text, /first words/);
    assert.match(res.text, /after 300 ms waiting for the answer \(read_timeout\)/);
    assert.ok(took < 2000, `stream ended after ${took} ms`);
  });

  it('first_token_timeout: headers and keep-alive comments but no content → the next instance answers', async () => {
    const timers: NodeJS.Timeout[] = [];
    cleanups.push(async () => timers.forEach(clearInterval));
    upstream = await startRawUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // Bytes keep coming, so read_timeout never fires: only the missing first token is wrong.
      timers.push(setInterval(() => res.write(': keep-alive\n\n'), 50));
    });
    second = await startRawUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(chatChunk('from b', 'stop') + 'data: [DONE]\n\n');
    });
    gw = await startGateway(
      routeConfig({
        timeout: FAR,
        read_timeout: 200,
        first_token_timeout: 500,
        instances: [instance('a', upstream.url, { priority: 1 }), instance('b', second.url)],
      }),
    );
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody({ stream: true }));
    assert.equal(res.status, 200);
    assert.match(res.text, /from b/);
    const [a] = attempts(gw);
    assert.equal(a?.status, 504);
    assert.match(String(a?.reason), /sent no content after 500 ms \(first_token_timeout\)/);
  });

  it('first_token_timeout does not cut a long answer whose first token came in time', async () => {
    const timers: NodeJS.Timeout[] = [];
    cleanups.push(async () => timers.forEach(clearInterval));
    upstream = await startRawUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let n = 0;
      const t = setInterval(() => {
        n += 1;
        if (n < 12) res.write(chatChunk(`w${n} `));
        else {
          clearInterval(t);
          res.end(chatChunk('end', 'stop') + 'data: [DONE]\n\n');
        }
      }, 100);
      timers.push(t);
    });
    gw = await startGateway(routeConfig({ timeout: FAR, first_token_timeout: 400, instances: [instance('a', upstream.url)] }));
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody({ stream: true }));
    assert.equal(res.status, 200);
    assert.match(res.text, /w11 /);
    assert.match(res.text, /\[DONE\]/);
    assert.doesNotMatch(res.text, /first_token_timeout/);
  });

  it('refuses a phase timeout of 0 with its path', async () => {
    await assert.rejects(
      startGateway(routeConfig({ first_token_timeout: 0, instances: [instance('a', 'http://127.0.0.1:1')] })),
      /first_token_timeout.*(>=|at least|minimum) ?1|must be >= 1/,
    );
  });
});
