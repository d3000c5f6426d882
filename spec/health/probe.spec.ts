import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ActiveCheckConfig } from '../../lib/config/types.ts';
import { createActiveChecker } from '../../lib/health/active-checker.ts';
import { probeOnce } from '../../lib/health/probe.ts';
import { createLogger } from '../../lib/observe/logger.ts';
import { createMemoryStore } from '../../lib/state/memory-store.ts';
import type { ProbeTarget } from '../../lib/health/probe.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { freePort } from '../support/free-port.ts';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';

function activeCheck(over: Partial<ActiveCheckConfig> = {}): ActiveCheckConfig {
  return {
    type: 'http',
    timeout: 1,
    concurrency: 10,
    http_path: '/v1/models',
    http_method: 'GET',
    https_verify_certificate: true,
    req_headers: [],
    healthy: { interval: 1, http_statuses: [200, 302], successes: 2 },
    unhealthy: { interval: 1, http_statuses: [429, 500, 503], http_failures: 5, tcp_failures: 2, timeouts: 3 },
    ...over,
  };
}

describe('probeOnce', () => {
  let fake: FakeOpenAI;
  let target: ProbeTarget;

  beforeEach(async () => {
    fake = await startFakeOpenAI({ name: 'probe-target' });
    target = { origin: fake.url, authHeaders: [['authorization', 'Bearer sk-probe-secret']], authQuery: '' };
  });
  afterEach(() => fake.close());

  it('sends GET /v1/models with the instance key and reports the status', async () => {
    const result = await probeOnce(target, activeCheck());
    assert.deepEqual(result, { kind: 'http', status: 200 });
    assert.equal(fake.requests.length, 1);
    const [req] = fake.requests;
    assert.equal(req?.method, 'GET');
    assert.equal(req?.path, '/v1/models');
    assert.equal(req?.headers.authorization, 'Bearer sk-probe-secret');
  });

  it('adds the auth query, req_headers, the Host override and the probe body', async () => {
    const withQuery = { origin: fake.url, authHeaders: [], authQuery: 'key=AIza-query-key' };
    const check = activeCheck({
      http_method: 'POST',
      http_path: '/v1/embeddings',
      http_req_body: '{"model":"text-embedding-3-small","input":"ping"}',
      req_headers: ['X-Probe: yes', 'User-Agent: gateway-probe/1'],
      host: 'probe.example',
    });
    assert.deepEqual(await probeOnce(withQuery, check), { kind: 'http', status: 200 });
    const [req] = fake.requests;
    assert.equal(req?.url, '/v1/embeddings?key=AIza-query-key');
    assert.equal(req?.headers['x-probe'], 'yes');
    assert.equal(req?.headers['user-agent'], 'gateway-probe/1');
    assert.equal(req?.headers.host, 'probe.example');
    assert.equal(req?.headers['content-type'], 'application/json');
    assert.deepEqual(req?.json, { model: 'text-embedding-3-small', input: 'ping' });
  });

  it('reports the provider status for an unhealthy answer', async () => {
    fake.setBehavior({ kind: 'status', status: 503 });
    assert.deepEqual(await probeOnce(target, activeCheck()), { kind: 'http', status: 503 });
  });

  it('times out a provider that never answers within check.timeout', async () => {
    fake.setBehavior({ kind: 'hang' });
    const started = Date.now();
    assert.deepEqual(await probeOnce(target, activeCheck({ timeout: 0.2 })), { kind: 'timeout' });
    const took = Date.now() - started;
    assert.ok(took >= 180 && took < 1000, `took ${took} ms`);
  });

  it('reports a connection reset as a tcp failure', async () => {
    fake.setBehavior({ kind: 'drop' });
    const result = await probeOnce(target, activeCheck());
    assert.equal(result.kind, 'tcp_failure');
  });

  it('reports a closed port as a tcp failure with its code', async () => {
    const port = await freePort();
    const result = await probeOnce({ ...target, origin: `http://127.0.0.1:${port}` }, activeCheck());
    assert.deepEqual(result, { kind: 'tcp_failure', code: 'ECONNREFUSED' });
  });

  it('probes another port when check.port overrides the instance port', async () => {
    const port = await freePort();
    const elsewhere = { ...target, origin: `http://127.0.0.1:${port}` };
    assert.deepEqual(await probeOnce(elsewhere, activeCheck({ port: fake.port })), { kind: 'http', status: 200 });
  });

  it('only connects for a tcp check, and fails on a closed port', async () => {
    assert.deepEqual(await probeOnce(target, activeCheck({ type: 'tcp' })), { kind: 'connected' });
    assert.equal(fake.requests.length, 0);
    const port = await freePort();
    const closed = await probeOnce({ ...target, origin: `http://127.0.0.1:${port}` }, activeCheck({ type: 'tcp' }));
    assert.deepEqual(closed, { kind: 'tcp_failure', code: 'ECONNREFUSED' });
  });

  it('reports a failed TLS handshake as a tcp failure', async () => {
    // The fake speaks plain HTTP, so `type: https` on its port cannot complete a handshake.
    const result = await probeOnce(target, activeCheck({ type: 'https', port: fake.port }));
    assert.equal(result.kind, 'tcp_failure');
  });

  it('rejects with the abort reason as soon as its caller aborts', async () => {
    fake.setBehavior({ kind: 'hang' });
    const ac = new AbortController();
    const pending = probeOnce(target, activeCheck({ timeout: 5 }), ac.signal);
    while (fake.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
    ac.abort(new Error('stopping'));
    await assert.rejects(pending, /stopping/);
  });
});

describe('probeOnce over https', () => {
  let dir: string;
  let server: Server | undefined;
  let origin: string;

  before(function () {
    dir = mkdtempSync(join(tmpdir(), 'probe-tls-'));
    const made = spawnSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ]);
    if (made.status !== 0) this.skip();
  });
  beforeEach(async () => {
    const tls = { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
    server = createHttpsServer(tls, (_req, res) => res.writeHead(204).end()).listen(0, '127.0.0.1');
    await once(server, 'listening');
    origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const check = (verify: boolean): ActiveCheckConfig => ({ ...activeCheck({ type: 'https' }), https_verify_certificate: verify });

  it('refuses a self-signed certificate while https_verify_certificate is on', async () => {
    const result = await probeOnce({ origin, authHeaders: [], authQuery: '' }, check(true));
    assert.equal(result.kind, 'tcp_failure');
    assert.match(result.kind === 'tcp_failure' ? result.code : '', /CERT|SELF_SIGNED/);
  });

  it('accepts it when https_verify_certificate is off', async () => {
    assert.deepEqual(await probeOnce({ origin, authHeaders: [], authQuery: '' }, check(false)), { kind: 'http', status: 204 });
  });
});

describe('probeOnce driving createActiveChecker', () => {
  let fake: FakeOpenAI;
  beforeEach(async () => {
    fake = await startFakeOpenAI({ name: 'checked' });
  });
  afterEach(() => fake.close());

  const waitFor = async (cond: () => boolean): Promise<void> => {
    for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
    assert.ok(cond(), 'condition not reached within 1 s');
  };

  function start(check: ActiveCheckConfig) {
    const target = { origin: fake.url, authHeaders: [['authorization', 'Bearer sk-wired']] as const, authQuery: '' };
    const checker = createActiveChecker({
      key: 'chat/checked',
      check,
      probe: (signal) => probeOnce(target, check, signal),
      store: createMemoryStore({ replicaId: 'solo' }),
      log: createLogger('silent'),
    });
    checker.start();
    return checker;
  }

  it('marks an instance whose /v1/models answers 503 unhealthy on its first probe', async () => {
    fake.setBehavior({ kind: 'status', status: 503 });
    const checker = start(activeCheck({ unhealthy: { ...activeCheck().unhealthy, http_failures: 1 } }));
    await waitFor(() => checker.healthy() === false);
    await checker.stop();
    assert.equal(fake.calls('/v1/models'), 1);
  });

  it('aborts a hanging probe on stop instead of waiting for its timeout', async () => {
    fake.setBehavior({ kind: 'hang' });
    const checker = start(activeCheck({ timeout: 10 }));
    await waitFor(() => fake.calls('/v1/models') === 1);
    const stopping = Date.now();
    await checker.stop();
    assert.ok(Date.now() - stopping < 500, 'stop() waited for the probe');
    assert.equal(checker.healthy(), undefined);
  });
});
