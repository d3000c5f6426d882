import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { chatBody, instance, postJson } from '../support/gateway-harness.ts';
import { freePort } from '../support/free-port.ts';

const cli = fileURLToPath(new URL('../../bin/ai-proxy-multi.js', import.meta.url));

function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { PATH: process.env['PATH'], ...env } });
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
      // The mixed-vendor example needs its vendors' keys.
      const env = { OPENAI_API_KEY: 'sk-x', ANTHROPIC_API_KEY: 'ak-x', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret' };
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

  for (const shipped of ['config.json', 'demo.json', 'mixed-vendors.json', 'consumers.json']) {
    it(`keeps the shipped config/${shipped} valid (checked without its secrets)`, () => {
      const res = run(['validate', '-c', fileURLToPath(new URL(`../../config/${shipped}`, import.meta.url)), '--allow-missing-env']);
      assert.equal(res.status, 0, res.stderr);
    });
  }

  it('checks the complete example without its secrets with --allow-missing-env, and names each one without it', () => {
    const path = fileURLToPath(new URL('../../config/mixed-vendors.json', import.meta.url));
    const names = ['OPENAI_API_KEY', 'ANTHROPIC_API_KEY', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'];
    const ci = run(['validate', '-c', path, '--allow-missing-env']);
    assert.equal(ci.status, 0, ci.stderr);
    assert.match(ci.stdout, /valid \(1 route, 3 instances; 4 variables not set: /);
    const strict = run(['validate', '-c', path]);
    assert.equal(strict.status, 2);
    for (const name of names) assert.match(strict.stderr, new RegExp(`/routes/0/plugins/ai-proxy-multi/instances/\\d/auth/\\S+: environment variable ${name} is not set`));
  });

  it('reports unset variables together with every other mistake, and judges no unsubstituted value', () => {
    const path = file('mixed-mistakes.json', {
      routes: [
        {
          id: 'r',
          uri: '/v1/*',
          plugins: {
            'ai-proxy-multi': {
              timeout: 0,
              instances: [
                { name: 'a', provider: 'openai', auth: { header: { Authorization: 'Bearer ${KEY_A}' } }, override: { endpoint: '${URL_A}' } },
                { name: 'b', provider: 'nope', auth: { header: { Authorization: 'Bearer ${KEY_B}' } } },
              ],
            },
          },
        },
      ],
    });
    const res = run(['validate', '-c', path]);
    assert.equal(res.status, 2);
    assert.match(res.stderr, /instances\/0\/auth\/header\/Authorization: environment variable KEY_A is not set/);
    assert.match(res.stderr, /instances\/0\/override\/endpoint: environment variable URL_A is not set/);
    assert.match(res.stderr, /instances\/1\/auth\/header\/Authorization: environment variable KEY_B is not set/);
    assert.match(res.stderr, /ai-proxy-multi\/timeout/);
    assert.match(res.stderr, /instances\/1\/provider/);
    // The endpoint's variable is the problem; "${URL_A}" is not also reported as a bad URL.
    assert.doesNotMatch(res.stderr, /override\/endpoint: (?!environment)/);
    const ci = run(['validate', '-c', path, '--allow-missing-env']);
    assert.equal(ci.status, 2);
    assert.doesNotMatch(ci.stderr, /not set/);
    assert.match(ci.stderr, /instances\/1\/provider/);
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

    describe('with a running gateway whose admin API needs a key', () => {
      let child: ReturnType<typeof spawn>;
      let path: string;
      let port: number;
      let adminPort: number;
      const config = (level: string) => ({
        server: { host: '127.0.0.1', port },
        admin: { host: '127.0.0.1', port: adminPort, api_key: '${TEST_ADMIN_KEY}' },
        log: { level },
        routes: [{ id: 'r', uri: '/v1/*', plugins: { 'ai-proxy-multi': { instances: [instance('up', up.url)] } } }],
      });
      const env = { TEST_ADMIN_KEY: 'admin-key-0123456789' };

      before(async () => {
        port = await freePort();
        adminPort = await freePort();
        path = file('admin.json', config('warn'));
        child = spawn(process.execPath, [cli, 'start', '-c', path], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'], ...env } });
        for (let i = 0; i < 200; i++) {
          const ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`).then((r) => r.status, () => 0);
          if (ready === 200) return;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        throw new Error('the gateway did not become ready');
      });
      after(() => child.kill('SIGKILL'));

      it('status -c reads the admin address and key from the config file', () => {
        const res = run(['status', '-c', path], env);
        assert.equal(res.status, 0, res.stderr);
        assert.match(res.stdout, /route r/);
        assert.match(res.stdout, /^up\s+openai-compatible/m);
      });

      it('status --admin takes host:port, and says how to pass the key when it is missing', () => {
        const refused = run(['status', '--admin', `127.0.0.1:${adminPort}`]);
        assert.equal(refused.status, 1);
        assert.match(refused.stderr, /answered 401 \(pass --api-key or set AIPM_ADMIN_KEY\)/);
        const ok = run(['status', '--admin', `127.0.0.1:${adminPort}`], { AIPM_ADMIN_KEY: env.TEST_ADMIN_KEY });
        assert.equal(ok.status, 0, ok.stderr);
        assert.match(ok.stdout, /route r/);
      });

      it('status exits 1 when the admin API cannot be reached', () => {
        const res = run(['status', '--admin', '127.0.0.1:1']);
        assert.equal(res.status, 1);
        assert.match(res.stderr, /cannot reach http:\/\/127\.0\.0\.1:1/);
      });

      it('reload applies a valid file, and lists the problems with exit 1 when the gateway refuses', () => {
        const ok = run(['reload', '-c', path], env);
        assert.equal(ok.status, 0, ok.stderr);
        assert.match(ok.stdout, /reloaded: 1 route/);
        // Listener settings need a restart: the running gateway refuses and says which.
        writeFileSync(path, JSON.stringify({ ...config('warn'), server: { host: '127.0.0.1', port: port + 1 } }));
        try {
          const refused = run(['reload', '-c', path], env);
          assert.equal(refused.status, 1);
          assert.match(refused.stderr, /reload refused \(400\)/);
          assert.match(refused.stderr, /\/server: changes only take effect after a restart/);
        } finally {
          writeFileSync(path, JSON.stringify(config('warn')));
        }
      });

      it('the admin API answers a wrong method on a known path with 405 and Allow, in JSON', async () => {
        const res = await fetch(`http://127.0.0.1:${adminPort}/reload`);
        assert.equal(res.status, 405);
        assert.equal(res.headers.get('allow'), 'POST');
        assert.match(res.headers.get('content-type') ?? '', /application\/json/);
        assert.equal(((await res.json()) as { error: { type: string } }).error.type, 'method_not_allowed');
        const status = await fetch(`http://127.0.0.1:${adminPort}/status`, { method: 'DELETE' });
        assert.equal(status.status, 405);
        assert.equal(status.headers.get('allow'), 'GET, HEAD');
        assert.equal((await fetch(`http://127.0.0.1:${adminPort}/nothing`, { headers: { 'x-api-key': env.TEST_ADMIN_KEY } })).status, 404);
      });

      it('a second gateway on the same ports exits 1 with one line that names the port and the fix', () => {
        const res = run(['start', '-c', path], env);
        assert.equal(res.status, 1);
        const lines = res.stderr.trim().split('\n');
        assert.equal(lines.length, 1, res.stderr);
        assert.match(lines[0] ?? '', new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use \\(stop the other process, or change server\\.port`));
        assert.doesNotMatch(res.stdout + res.stderr, /"level":60|stack/);
      });

      it('logs readable lines with --log-format pretty, JSON when piped, and refuses an unknown format with exit 2', () => {
        // The same ports as the running gateway: it logs "stopped" at info and exits 1.
        const infoPath = file('admin-info.json', config('info'));
        const pretty = run(['start', '-c', infoPath, '--log-format', 'pretty'], env);
        assert.equal(pretty.status, 1);
        assert.match(pretty.stdout, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: ai-proxy-multi stopped$/m);
        const piped = run(['start', '-c', infoPath], env);
        assert.match(piped.stdout, /^\{"level":30,.*"msg":"ai-proxy-multi stopped"\}$/m);
        const bad = run(['start', '-c', infoPath], { ...env, AIPM_LOG_FORMAT: 'xml' });
        assert.equal(bad.status, 2);
        assert.match(bad.stderr, /"xml" is not json or pretty/);
      });

      it('status -c says which admin variable is unset, with exit 2', () => {
        const res = run(['status', '-c', path]);
        assert.equal(res.status, 2);
        assert.match(res.stderr, /the admin section uses unset variable TEST_ADMIN_KEY/);
      });
    });
  });
});
