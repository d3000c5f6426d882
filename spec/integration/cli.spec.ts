import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { chatBody, instance, postJson } from '../support/gateway-harness.ts';

const cli = fileURLToPath(new URL('../../bin/ai-proxy-multi.js', import.meta.url));

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { PATH: process.env['PATH'], ...env } });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('the ai-proxy-multi command', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'aipm-cli-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const file = (name: string, content: unknown) => {
    const path = join(dir, name);
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  };

  it('validates the shipped config files', () => {
    for (const name of ['config.json', 'demo.json', 'mixed-vendors.json']) {
      // The mixed-vendor example has no default for AWS keys: an empty key is refused.
      const env = { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret' };
      const res = run(['validate', '-c', fileURLToPath(new URL(`../../config/${name}`, import.meta.url))], env);
      assert.equal(res.status, 0, res.stderr);
      assert.match(res.stdout, /valid \(\d+ routes?, \d+ instances?\)/);
    }
  });

  it('exits 2 and prints every problem with its JSON path', () => {
    const path = file('bad.json', {
      routes: [
        {
          id: 'r',
          uri: '/v1/*',
          plugins: {
            'ai-proxy-multi': {
              timeout: 0,
              instances: [
                { name: 'a', provider: 'openai', weight: -1 },
                { name: 'a', provider: 'nope' },
              ],
            },
          },
        },
      ],
    });
    const res = run(['validate', '-c', path]);
    assert.equal(res.status, 2);
    assert.match(res.stderr, /\/routes\/0\/plugins\/ai-proxy-multi\/instances\/0\/weight: must be >= 0/);
    assert.match(res.stderr, /\/routes\/0\/plugins\/ai-proxy-multi\/timeout/);
    assert.match(res.stderr, /\/routes\/0\/plugins\/ai-proxy-multi\/instances\/1\/provider/);
    assert.match(res.stderr, /instances\/1\/name: "a" is already the name of/);
  });

  it('refuses to start when a referenced variable is unset, naming it, and never echoes secrets', () => {
    const path = file('env.json', {
      routes: [
        {
          id: 'r',
          uri: '/v1/*',
          plugins: { 'ai-proxy': { provider: 'openai', auth: { header: { Authorization: 'Bearer ${MISSING_KEY_ONE}' } } } },
        },
      ],
      admin: { api_key: '${MISSING_KEY_TWO}' },
    });
    const res = run(['start', '-c', path]);
    assert.equal(res.status, 2);
    assert.match(res.stderr, /MISSING_KEY_ONE/);
    assert.match(res.stderr, /MISSING_KEY_TWO/);
  });

  it('prints usage and exits 2 on an unknown command', () => {
    const res = run(['frobnicate']);
    assert.equal(res.status, 2);
    assert.match(res.stderr, /Usage: ai-proxy-multi/);
  });

  describe('start', () => {
    let up: FakeOpenAI;
    before(async () => {
      up = await startFakeOpenAI({ name: 'up', behavior: { kind: 'ok', content: 'a b c d e f g h', chunks: 8, chunkDelayMs: 60 } });
    });
    after(() => up.close());

    it('serves, then on SIGTERM finishes the stream in flight and exits 0', async () => {
      const port = await freePort();
      const adminPort = await freePort();
      const path = file('start.json', {
        server: { host: '127.0.0.1', port },
        admin: { host: '127.0.0.1', port: adminPort },
        log: { level: 'warn' },
        routes: [{ id: 'r', uri: '/v1/*', plugins: { 'ai-proxy-multi': { instances: [instance('up', up.url)] } } }],
      });
      const child = spawn(process.execPath, [cli, 'start', '-c', path], { stdio: ['ignore', 'pipe', 'pipe'] });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      try {
        for (let i = 0; i < 100; i++) {
          const ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.status, () => 0);
          if (ready === 200) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        const pending = postJson(`http://127.0.0.1:${port}/v1/chat/completions`, chatBody({ stream: true }));
        await new Promise((resolve) => setTimeout(resolve, 150));
        child.kill('SIGTERM');
        const res = await pending;
        assert.equal(res.status, 200);
        assert.match(res.text, /data: \[DONE\]/);
        assert.equal(await exited, 0);
      } finally {
        child.kill('SIGKILL');
      }
    });
  });
});
