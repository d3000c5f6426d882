import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../support/free-port.ts';

// Thousands of streaming clients reconnect at once (a load balancer restarts, a network blips) while
// the gateway is busy. The kernel queues their handshakes until the process accepts them, up to the
// listen backlog; past it, it drops them, and clients see resets or second-long SYN retries. Node's
// default backlog is 511. Here the gateway is frozen (SIGSTOP) while 1,500 clients connect.
const cli = fileURLToPath(new URL('../../bin/ai-proxy-multi.js', import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const CLIENTS = 1500;

function somaxconn(): number {
  try {
    return Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
  } catch {
    return 0;
  }
}

describe('a burst of connections while the gateway is busy', function () {
  this.timeout(30_000);
  let dir: string;
  let child: ChildProcess | undefined;
  const sockets: Socket[] = [];

  before(function () {
    // The kernel caps every backlog at somaxconn: below the burst, no listener could queue it.
    if (somaxconn() < CLIENTS * 1.2) this.skip();
    dir = mkdtempSync(join(tmpdir(), 'aipm-backlog-'));
  });
  after(() => {
    if (child) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
    for (const s of sockets) s.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(`queues ${CLIENTS} handshakes and serves every one once it runs again`, async () => {
    const port = await freePort();
    const adminPort = await freePort();
    const path = join(dir, 'backlog.json');
    writeFileSync(path, JSON.stringify({
      server: { host: '127.0.0.1', port },
      admin: { host: '127.0.0.1', port: adminPort },
      log: { level: 'error' },
      routes: [{ id: 'r', uri: '/v1/*', plugins: { 'ai-proxy-multi': { instances: [{ name: 'up', provider: 'openai-compatible', auth: { header: { Authorization: 'Bearer sk-x' } }, options: { model: 'm' }, override: { endpoint: 'http://127.0.0.1:9' } }] } } }],
    }));
    child = spawn(process.execPath, [cli, 'start', '-c', path], { stdio: 'ignore' });
    for (let i = 0; ; i++) {
      if ((await fetch(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.status, () => 0)) === 200) break;
      assert.ok(i < 200, 'the gateway did not become ready');
      await sleep(50);
    }
    child.kill('SIGSTOP');
    let connected = 0;
    for (let i = 0; i < CLIENTS; i++) {
      const socket = connect(port, '127.0.0.1', () => (connected += 1));
      socket.on('error', () => undefined);
      sockets.push(socket);
    }
    // A queued handshake completes at once; a dropped one waits a second for its first SYN retry.
    await sleep(700);
    assert.equal(connected, CLIENTS, `${connected} of ${CLIENTS} handshakes completed while the gateway was stopped`);
    child.kill('SIGCONT');
    // Every queued connection is accepted and answered: an unknown path gets the gateway's 404.
    const answers = await Promise.all(sockets.map((socket) => new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        if (text.includes('\r\n')) resolve(text.slice(0, text.indexOf('\r\n')));
      });
      socket.on('close', () => resolve(text || 'closed'));
      socket.write('GET /nothing HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    })));
    const statuses = new Map<string, number>();
    for (const a of answers) statuses.set(a, (statuses.get(a) ?? 0) + 1);
    assert.deepEqual([...statuses], [['HTTP/1.1 404 Not Found', CLIENTS]]);
  });
});
