import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { chatBody, instance, postJson } from '../support/gateway-harness.ts';
import { freePort } from '../support/free-port.ts';

// The real command gives its young generation back once after start-up, always, and with
// server.reduce_memory_when_idle_ms once nothing is in flight: never while a stream is open, and
// again after each busy period.
const cli = fileURLToPath(new URL('../../bin/ai-proxy-multi.js', import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the gateway gives memory back when idle', function () {
  this.timeout(30_000);
  let up: FakeOpenAI;
  let dir: string;
  let child: ChildProcess;
  let port: number;
  const lines: Array<Record<string, unknown>> = [];
  const released = () => lines.filter((l) => l['msg'] === 'idle: memory given back');
  const atStartUp = () => lines.filter((l) => l['msg'] === 'start-up: memory given back');

  async function until(what: string, check: () => boolean, ms: number): Promise<void> {
    for (const end = Date.now() + ms; Date.now() < end; ) {
      if (check()) return;
      await sleep(25);
    }
    assert.fail(`${what} within ${ms} ms`);
  }

  before(async () => {
    up = await startFakeOpenAI({ name: 'up', behavior: { kind: 'ok', content: 'a b c d e f g h i j', chunks: 10, chunkDelayMs: 120 } });
    dir = mkdtempSync(join(tmpdir(), 'aipm-idle-'));
    port = await freePort();
    const adminPort = await freePort();
    const path = join(dir, 'idle.json');
    writeFileSync(path, JSON.stringify({
      server: { host: '127.0.0.1', port, reduce_memory_when_idle_ms: 300 },
      admin: { host: '127.0.0.1', port: adminPort },
      log: { level: 'debug' },
      routes: [{ id: 'r', uri: '/v1/*', plugins: { 'ai-proxy-multi': { instances: [instance('up', up.url)] } } }],
    }));
    child = spawn(process.execPath, [cli, 'start', '-c', path, '--log-format', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.startsWith('{')) lines.push(JSON.parse(line) as Record<string, unknown>);
      }
    });
    for (let i = 0; i < 200; i++) {
      if ((await fetch(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.status, () => 0)) === 200) return;
      await sleep(50);
    }
    throw new Error('the gateway did not become ready');
  });
  after(async () => {
    child?.kill('SIGKILL');
    await up?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('after start-up, before the listener opens: the heap is smaller after than before', async () => {
    await until('the start-up collection', () => atStartUp().length === 1, 5000);
    const [first] = atStartUp();
    assert.ok(Number(first?.['heap_mb']) < Number(first?.['heap_before_mb']), JSON.stringify(first));
    assert.ok(Number(first?.['rss_mb']) > 0);
    const listening = lines.findIndex((l) => typeof l['msg'] === 'string' && l['msg'].includes(' listening on '));
    assert.ok(listening >= 0 && lines.indexOf(first as Record<string, unknown>) < listening, 'collected before the listener opened');
    await sleep(600); // two idle periods with no request: nothing more to give back
    assert.equal(released().length, 0);
  });

  it('not while a stream is open; once after it ends', async () => {
    const before = released().length;
    const streamed = postJson(`http://127.0.0.1:${port}/v1/chat/completions`, chatBody({ stream: true }));
    await sleep(900); // three idle periods into a 1.2 s stream
    assert.equal(released().length, before, 'no collection under an open stream');
    const res = await streamed;
    assert.equal(res.status, 200);
    assert.match(res.text, /data: \[DONE\]/);
    await until('a collection after the stream', () => released().length === before + 1, 3000);
    await sleep(700);
    assert.equal(released().length, before + 1, 'one collection per idle period, not one per timer tick');
  });
});
