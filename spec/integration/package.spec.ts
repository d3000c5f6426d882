import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import type { SpawnSyncReturns } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { chatBody, instance, postJson } from '../support/gateway-harness.ts';
import { freePort } from '../support/free-port.ts';

// What a user does with the published package: `npm pack`, install the tarball into an empty folder,
// run the command. No network: the dependencies come from the npm cache that `npm ci` filled, pinned
// by a lockfile made from this repository's own.

const root = fileURLToPath(new URL('../..', import.meta.url));

interface LockEntry {
  version: string;
  resolved?: string;
  integrity?: string;
  dev?: boolean;
  [key: string]: unknown;
}

function npm(args: string[], cwd: string): SpawnSyncReturns<string> {
  // --offline everywhere: a cache miss fails instead of reaching the registry.
  const res = spawnSync('npm', [...args, '--offline', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, npm_config_offline: 'true', npm_config_update_notifier: 'false' },
  });
  assert.equal(res.status, 0, `npm ${args.join(' ')}: ${res.stderr}`);
  return res;
}

/** The installing project's lockfile: the package from the tarball, its runtime dependencies as we locked them. */
function lockFor(tarball: string): object {
  const ours = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
  const packages: Record<string, unknown> = {
    '': { name: 'installs-it', dependencies: { 'ai-proxy-multi': `file:${tarball}` } },
    'node_modules/ai-proxy-multi': {
      version: pkg['version'],
      resolved: `file:${tarball}`,
      dependencies: pkg['dependencies'],
      bin: pkg['bin'],
      engines: pkg['engines'],
    },
  };
  for (const [path, entry] of Object.entries(ours.packages)) {
    if (!path.startsWith('node_modules/') || entry.dev) continue;
    // With its URL and integrity, npm takes the tarball from the cache without asking for metadata.
    const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const resolved = entry.resolved ?? `https://registry.npmjs.org/${name}/-/${name.split('/').pop()}-${entry.version}.tgz`;
    packages[path] = { ...entry, resolved };
  }
  return { name: 'installs-it', lockfileVersion: 3, requires: true, packages };
}

async function waitFor(url: string, ms: number): Promise<Response> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fetch(url);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

describe('the packed package, installed from its tarball', function () {
  // Compiling (prepack) takes ~15 s on an idle machine; the rest a few seconds.
  this.timeout(180_000);
  let dir: string;
  let app: string;
  let files: string[];
  let fake: FakeOpenAI;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aipm-pack-'));
    app = join(dir, 'app');
    const packed = npm(['pack', '--json', '--pack-destination', dir], root);
    const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as Array<{ filename: string; files: Array<{ path: string }> }>;
    assert.ok(info);
    files = info.files.map((f) => f.path);
    spawnSync('mkdir', [app]);
    const tarball = `../${info.filename}`;
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'installs-it', private: true, dependencies: { 'ai-proxy-multi': `file:${tarball}` } }));
    writeFileSync(join(app, 'package-lock.json'), JSON.stringify(lockFor(tarball)));
    npm(['ci'], app);
    fake = await startFakeOpenAI({ name: 'packaged' });
  });
  after(async () => {
    await fake?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const npx = (args: string[]) =>
    spawnSync('npx', ['--no-install', 'ai-proxy-multi', ...args], { cwd: app, encoding: 'utf8', env: { ...process.env, npm_config_offline: 'true' } });

  it('ships compiled JavaScript and the launcher, no TypeScript', () => {
    assert.ok(files.includes('dist/bin/cli.js') && files.includes('dist/lib/gateway.js') && files.includes('bin/ai-proxy-multi.js'), files.join(' '));
    assert.ok(files.includes('config/config.json') && files.includes('config/schema.json'));
    assert.deepEqual(files.filter((f) => f.endsWith('.ts')), []);
    assert.deepEqual(files.filter((f) => f.startsWith('spec/') || f.startsWith('tools/')), []);
  });

  it('validates a config with npx, and refuses a broken one with exit 2', () => {
    const good = npx(['validate', '-c', 'node_modules/ai-proxy-multi/config/config.json']);
    assert.equal(good.status, 0, good.stderr);
    assert.match(good.stdout, /valid \(2 routes, 5 instances/);
    writeFileSync(join(app, 'broken.json'), JSON.stringify({ routes: [{ id: 'r', uri: '/x', plugins: { 'ai-proxy-multi': { instances: [{ name: 'a', provider: 'nope' }] } } }] }));
    const bad = npx(['validate', '-c', 'broken.json']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /provider/);
  });

  it('starts, answers /healthz and a chat request, and drains and stops on SIGTERM', async () => {
    const [port, adminPort] = [await freePort(), await freePort()];
    const config = {
      server: { host: '127.0.0.1', port },
      admin: { host: '127.0.0.1', port: adminPort },
      routes: [{ id: 'chat', uris: ['/v1/chat/completions'], plugins: { 'ai-proxy-multi': { instances: [instance('packaged', fake.url)] } } }],
    };
    writeFileSync(join(app, 'gateway.json'), JSON.stringify(config));
    const child = spawn('npx', ['--no-install', 'ai-proxy-multi', 'start', '-c', 'gateway.json', '--log-format', 'json'], {
      cwd: app,
      env: { ...process.env, npm_config_offline: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group, signalled as a whole as a terminal's Ctrl-C or a service manager would:
      // npx itself does not pass SIGTERM on to the command it runs.
      detached: true,
    });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    // 'close': every holder of the output pipes is gone, the gateway under npx included.
    const closed = once(child, 'close');
    try {
      const health = await waitFor(`http://127.0.0.1:${adminPort}/healthz`, 20_000);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok' });
      const res = await postJson(`http://127.0.0.1:${port}/v1/chat/completions`, chatBody());
      assert.equal(res.status, 200, res.text);
      assert.equal(fake.requests.length, 1);
    } finally {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM');
    }
    await closed;
    assert.equal(stderr.trim(), '');
    const lines = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string });
    assert.ok(lines.some((l) => l.msg === 'SIGTERM received: draining'), stdout);
    assert.equal(lines.at(-1)?.msg, 'ai-proxy-multi stopped', 'the gateway drained and stopped');
  });
});
