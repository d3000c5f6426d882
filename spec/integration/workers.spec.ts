import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { chatBody, instance } from '../support/gateway-harness.ts';
import { startRedis } from '../support/redis-server.ts';
import { freePort } from '../support/free-port.ts';

const cli = fileURLToPath(new URL('../../bin/ai-proxy-multi.js', import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One request on a fresh connection, so the cluster hands each to the next worker. */
function post(port: number, path: string, body: unknown): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent: false, headers: { 'content-type': 'application/json', connection: 'close' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

interface Host {
  child: ChildProcess;
  port: number;
  adminPort: number;
  lines: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
  admin(path: string, method?: string): Promise<{ status: number; text: string }>;
}

describe('server.workers: one host runs several worker processes as one gateway', function () {
  this.timeout(30_000);
  let up: FakeOpenAI;
  let backup: FakeOpenAI;
  let dir: string;
  let host: Host | undefined;

  const probeEverySecond = { active: { type: 'http', http_path: '/v1/models', timeout: 1, healthy: { interval: 1 }, unhealthy: { interval: 1 } } };
  const config = (port: number, adminPort: number, plugin: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
    ...extra,
    server: { host: '127.0.0.1', port, workers: 2, shutdown_timeout_ms: 5000 },
    admin: { host: '127.0.0.1', port: adminPort },
    log: { level: 'info' },
    routes: [
      {
        id: 'chat',
        uri: '/v1/*',
        plugins: {
          'ai-proxy-multi': {
            // A plain failure count: the successful requests sent first must not dilute it.
            breaker: { failure_threshold: 4, reset_timeout_ms: 60_000, volume_threshold: 1_000_000 },
            instances: [instance('up', up.url, { priority: 1 }), instance('backup', backup.url, { checks: probeEverySecond })],
            ...plugin,
          },
        },
      },
    ],
  });

  async function startHost(plugin: Record<string, unknown> = {}, extra: Record<string, unknown> = {}, detached = false): Promise<Host> {
    const port = await freePort();
    const adminPort = await freePort();
    const file = join(dir, 'workers.json');
    writeFileSync(file, JSON.stringify(config(port, adminPort, plugin, extra)));
    const child = spawn(process.execPath, [cli, 'start', '-c', file, '--log-format', 'json'], { stdio: ['ignore', 'pipe', 'pipe'], detached });
    const lines: Array<Record<string, unknown>> = [];
    let pending = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      let nl: number;
      while ((nl = pending.indexOf('\n')) !== -1) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          lines.push({ msg: line });
        }
      }
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const admin = (path: string, method = 'GET') =>
      fetch(`http://127.0.0.1:${adminPort}${path}`, { method }).then(async (r) => ({ status: r.status, text: await r.text() }));
    for (let i = 0; i < 300; i++) {
      if ((await admin('/readyz').catch(() => ({ status: 0 }))).status === 200) {
        host = { child, port, adminPort, lines, exited, admin };
        return host;
      }
      if (child.exitCode !== null) break;
      await sleep(50);
    }
    child.kill('SIGKILL');
    throw new Error(`the host did not become ready: ${stderr}`);
  }
  const workerPids = (h: Host): number[] => (h.lines.find((l) => /running 2 workers/.test(String(l['msg'])))?.['pids'] as number[] | undefined) ?? [];
  const status = async (h: Host) => JSON.parse((await h.admin('/status')).text) as {
    workers: number;
    routes: Array<{ instances: Array<{ name: string; requests: number; breaker: { state: string } }> }>;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aipm-workers-'));
    up = await startFakeOpenAI({ name: 'up' });
    backup = await startFakeOpenAI({ name: 'backup' });
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await Promise.all([up.close(), backup.close()]);
  });
  afterEach(async () => {
    host?.child.kill('SIGKILL');
    await host?.exited;
    host = undefined;
    up.setBehavior({ kind: 'ok' });
  });

  it('shares one breaker across the workers (without Redis), and aggregates /status and /metrics', async () => {
    const h = await startHost();
    assert.equal(new Set(workerPids(h)).size, 2, 'two worker processes');

    for (let i = 0; i < 10; i++) assert.equal((await post(h.port, '/v1/chat/completions', chatBody())).status, 200);
    const before = await status(h);
    assert.equal(before.workers, 2);
    assert.equal(before.routes[0]?.instances.find((i) => i.name === 'up')?.requests, 10, '/status counts both workers');
    const metrics = (await h.admin('/metrics')).text;
    const served = [...metrics.matchAll(/^aipm_requests_total\{[^}]*instance="up"[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    assert.equal(served, 10, '/metrics adds up both workers');

    // 4 failures open the breaker; spread over both workers each sees only about half of them.
    up.setBehavior({ kind: 'status', status: 503 });
    for (let i = 0; i < 4; i++) assert.equal((await post(h.port, '/v1/chat/completions', chatBody())).status, 200, 'falls back');
    await sleep(300); // the open breaker travels primary → other worker over IPC
    const calls = up.calls();
    for (let i = 0; i < 8; i++) assert.equal((await post(h.port, '/v1/chat/completions', chatBody())).status, 200);
    assert.equal(up.calls(), calls, 'no worker sends to the benched instance any more');
    assert.equal((await status(h)).routes[0]?.instances.find((i) => i.name === 'up')?.breaker.state, 'open');
    assert.match((await h.admin('/metrics')).text, /^aipm_instance_breaker_state\{route="chat",instance="up",state="open"\} 1$/m, 'not 2: the state is the host\'s');

    // One prober per instance for the host, not one per worker.
    const probes = backup.calls('/v1/models');
    await sleep(4000);
    const probed = backup.calls('/v1/models') - probes;
    assert.ok(probed >= 2 && probed <= 5, `${probed} probes in 4 s with a 1 s interval (a prober per worker would make about 8)`);
  });

  it('shares the breaker through Redis when one is configured, each worker a replica of the fleet', async () => {
    const redis = await startRedis();
    try {
      const h = await startHost({}, { redis: { url: redis.url, key_prefix: `w${Date.now()}:` } });
      up.setBehavior({ kind: 'status', status: 503 });
      for (let i = 0; i < 4; i++) assert.equal((await post(h.port, '/v1/chat/completions', chatBody())).status, 200, 'falls back');
      await sleep(200);
      const calls = up.calls();
      for (let i = 0; i < 8; i++) assert.equal((await post(h.port, '/v1/chat/completions', chatBody())).status, 200);
      assert.equal(up.calls(), calls, 'no worker sends to the benched instance any more');
      const report = JSON.parse((await h.admin('/status')).text) as { state_store: string };
      assert.equal(report.state_store, 'redis');
      assert.match((await h.admin('/metrics')).text, /^aipm_redis_connected 1$/m);
    } finally {
      host?.child.kill('SIGKILL');
      await host?.exited;
      await redis.stop();
    }
  });

  it('stops once and exits 0 on Ctrl-C in a terminal, where every process of the group gets SIGINT', async () => {
    const h = await startHost({}, {}, true);
    process.kill(-(h.child.pid as number), 'SIGINT');
    assert.equal(await h.exited, 0);
    assert.deepEqual(h.lines.filter((l) => (l['level'] as number) >= 40).map((l) => l['msg']), [], 'no worker treated it as a second signal');
  });

  it('exits 1 with the one-line reason when the admin port is taken, stopping the workers it started', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const file = join(dir, 'taken.json');
      writeFileSync(file, JSON.stringify(config(await freePort(), (taken.address() as { port: number }).port)));
      const child = spawn(process.execPath, [cli, 'start', '-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      assert.equal(code, 1);
      assert.match(stderr, /cannot listen on .*the port is in use/);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('restarts a worker that dies, with a warning, and keeps serving', async () => {
    const h = await startHost();
    process.kill(workerPids(h)[0] as number, 'SIGKILL');
    for (let i = 0; i < 100 && !h.lines.some((l) => /exited unexpectedly/.test(String(l['msg']))); i++) await sleep(50);
    const warning = h.lines.find((l) => /exited unexpectedly/.test(String(l['msg'])));
    assert.equal(warning?.['level'], 40, 'a warn line says a worker died');
    assert.equal((await h.admin('/readyz')).status, 200, 'the host stays ready on the other worker');
    for (let i = 0; i < 6; i++) assert.equal((await post(h.port, '/v1/chat/completions', chatBody())).status, 200);
    for (let i = 0; i < 100 && (await status(h)).workers !== 2; i++) await sleep(50);
    assert.equal((await status(h)).workers, 2, 'two workers again');
    for (let i = 0; i < 6; i++) assert.equal((await post(h.port, '/v1/chat/completions', chatBody())).status, 200);
  });

  it('reloads every worker on POST /reload, and on SIGTERM drains every worker and exits 0', async () => {
    const h = await startHost();
    // The new file routes everything to backup: every worker must use it afterwards.
    writeFileSync(join(dir, 'workers.json'), JSON.stringify(config(h.port, h.adminPort, { instances: [instance('backup', backup.url)] })));
    const reload = await h.admin('/reload', 'POST');
    assert.equal(reload.status, 200, reload.text);
    const upCalls = up.calls();
    for (let i = 0; i < 6; i++) assert.equal((await post(h.port, '/v1/chat/completions', chatBody())).status, 200);
    assert.equal(up.calls(), upCalls, 'no worker kept the old routes');

    backup.setBehavior({ kind: 'delay', ms: 800, then: { kind: 'ok' } });
    try {
      const slow = [post(h.port, '/v1/chat/completions', chatBody()), post(h.port, '/v1/chat/completions', chatBody())];
      await sleep(200);
      h.child.kill('SIGTERM');
      const answers = await Promise.all(slow);
      assert.deepEqual(answers.map((a) => a.status), [200, 200], 'requests in flight on both workers finished');
      assert.equal(await h.exited, 0);
    } finally {
      backup.setBehavior({ kind: 'ok' });
    }
  });
});
