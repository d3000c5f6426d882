import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { chatBody, postJson } from '../support/gateway-harness.ts';
import type { RedisProcess } from '../support/redis-server.ts';
import { startRedis } from '../support/redis-server.ts';
import { freePort } from '../support/free-port.ts';

// docker-compose.yml cannot run here (no Docker engine), so this spec reads it and starts the same
// processes it describes: a real redis-server, the two gateway replicas (the image's entrypoint, the
// compose environment, the mounted config file) and the demo profile's simulated providers. Only
// what separate containers would give each process differs: addresses and ports on one host.

const root = fileURLToPath(new URL('../..', import.meta.url));

interface Service {
  build?: { context: string; target: string };
  image?: string;
  profiles?: string[];
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}
interface Compose {
  services: Record<string, Service>;
}

const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as Compose;
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const GATEWAYS = ['gateway-1', 'gateway-2'] as const;
const SIMS = ['sim-primary', 'sim-backup'] as const;
const MOUNT = /^\$\{AIPM_CONFIG:-(\.\/[^}]+)\}:(\/[^:]+):ro$/;

function service(name: string): Service {
  const s = compose.services[name];
  assert.ok(s, `service ${name}`);
  return s;
}

/** The gateway's config as mounted: the host file of the volume, and where the container sees it. */
function mountOf(s: Service): { host: string; container: string } {
  const m = MOUNT.exec(s.volumes?.[0] ?? '');
  assert.ok(m, `a config mounted from the host: ${s.volumes?.[0]}`);
  return { host: join(root, m[1] as string), container: m[2] as string };
}

/** `${NAME:-default}` as compose resolves it with NAME unset. */
const composeDefault = (value: string): string => value.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1');

/** A Dockerfile stage's JSON-form instruction, e.g. ENTRYPOINT of the `gateway` stage. */
function instruction(stage: string, name: string): string[] {
  const body = dockerfile.split(/^FROM /m).find((s) => new RegExp(` AS ${stage}\\s*$`, 'm').test(s.split('\n')[0] ?? ''));
  assert.ok(body, `Dockerfile stage ${stage}`);
  const line = new RegExp(`^${name} (\\[.*\\])$`, 'm').exec(body);
  assert.ok(line, `${name} in stage ${stage}`);
  return JSON.parse(line[1] as string) as string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(100);
  }
}

describe('docker-compose.yml', () => {
  it('runs Redis and two gateway replicas on one config mounted from the host, checked on /readyz', () => {
    assert.deepEqual(Object.keys(compose.services).sort(), ['demo-traffic', 'gateway-1', 'gateway-2', 'redis', 'sim-backup', 'sim-primary']);
    const redis = service('redis');
    assert.ok(redis.command?.includes('redis-server'));
    assert.equal(redis.command?.[redis.command.indexOf('--port') + 1], '6379');
    const hostPorts = new Set<string>();
    for (const name of GATEWAYS) {
      const gw = service(name);
      assert.equal(gw.profiles, undefined, `${name} runs without a profile`);
      assert.equal(gw.build?.target, 'gateway');
      const mount = mountOf(gw);
      assert.ok(existsSync(mount.host), `${mount.host} exists`);
      assert.equal(gw.environment?.['AI_PROXY_CONFIG'], mount.container);
      assert.equal(gw.environment?.['REDIS_URL'], 'redis://redis:6379/0');
      assert.equal(gw.depends_on?.['redis']?.condition, 'service_healthy');
      const config = JSON.parse(readFileSync(mount.host, 'utf8')) as { server: { port: number }; admin: { port: number }; redis: { url: string } };
      assert.equal(config.redis.url, '${REDIS_URL:-}');
      assert.match(gw.healthcheck?.test.join(' ') ?? '', new RegExp(`127\\.0\\.0\\.1:${config.admin.port}/readyz`));
      // host:container; the containers listen where the config says; the admin API stays on the host's loopback.
      const [data, admin] = gw.ports ?? [];
      assert.match(data ?? '', new RegExp(`^\\d+:${config.server.port}$`));
      assert.match(admin ?? '', new RegExp(`^127\\.0\\.0\\.1:\\d+:${config.admin.port}$`));
      hostPorts.add(data?.split(':')[0] ?? '').add(admin?.split(':')[1] ?? '');
    }
    assert.equal(hostPorts.size, 4, 'each replica has its own host ports');
    assert.doesNotMatch(dockerfile, /COPY .*fleet\.json/);
  });

  it('adds the simulated providers the mounted config points at, and the demo traffic, in the demo profile', () => {
    const config = readFileSync(mountOf(service('gateway-1')).host, 'utf8');
    for (const name of SIMS) {
      const sim = service(name);
      assert.deepEqual(sim.profiles, ['demo']);
      assert.equal(sim.build?.target, 'simulator');
      const port = sim.command?.[sim.command.indexOf('--port') + 1];
      const variable = `SIM_${name.slice(4).toUpperCase()}_URL`;
      assert.ok(config.includes(`"\${${variable}:-http://${name}:${port}}"`), `the config reaches ${name} on ${port} (or ${variable})`);
    }
    const traffic = service('demo-traffic');
    assert.deepEqual(traffic.profiles, ['demo']);
    assert.deepEqual(
      traffic.command?.filter((_, i, all) => all[i - 1] === '--gateway'),
      GATEWAYS.map((g) => `http://${g}:9080`),
    );
    assert.deepEqual(instruction('simulator', 'ENTRYPOINT'), ['node', 'tools/simulator/serve.ts']);
  });
});

describe('the compose fleet, run as the processes it describes', function () {
  this.timeout(60_000);
  let redis: RedisProcess;
  let dir: string;
  const children: ChildProcess[] = [];
  const sims = new Map<string, { child: ChildProcess; url: string }>();
  const replicas = new Map<string, { url: string; admin: string }>();
  const ADMIN_KEY = 'fleet-admin-key-0123456789';

  function launch(command: string[], env: NodeJS.ProcessEnv): ChildProcess {
    const child = spawn(process.execPath, command, { cwd: root, env: { PATH: process.env['PATH'], ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    return child;
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'aipm-compose-'));
    redis = await startRedis();
    const simEnv: NodeJS.ProcessEnv = {};
    for (const name of SIMS) {
      const args = [...(service(name).command ?? [])];
      const port = await freePort();
      args[args.indexOf('--port') + 1] = String(port);
      const child = launch([...instruction('simulator', 'ENTRYPOINT').slice(1), ...args, '--host', '127.0.0.1'], {});
      let out = '';
      child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
      await until(`${name} listening`, 10_000, async () => (out.includes('simulated') ? true : undefined));
      const url = `http://127.0.0.1:${port}`;
      sims.set(name, { child, url });
      simEnv[`SIM_${name.slice(4).toUpperCase()}_URL`] = url;
    }
    for (const name of GATEWAYS) {
      const gw = service(name);
      const mount = mountOf(gw);
      // The mounted file as it is, but for the listen ports, which containers would not share.
      const config = JSON.parse(readFileSync(mount.host, 'utf8')) as { server: { port: number }; admin: { port: number } };
      const [port, adminPort] = [await freePort(), await freePort()];
      const copy = join(dir, `${name}.json`);
      writeFileSync(copy, JSON.stringify({ ...config, server: { ...config.server, port }, admin: { ...config.admin, port: adminPort } }));
      const env: NodeJS.ProcessEnv = { ...simEnv };
      for (const [key, value] of Object.entries(gw.environment ?? {})) env[key] = composeDefault(value);
      Object.assign(env, { AI_PROXY_CONFIG: copy, REDIS_URL: redis.url, AIPM_HOST: '127.0.0.1', AIPM_ADMIN_HOST: '127.0.0.1', AIPM_ADMIN_KEY: ADMIN_KEY });
      const [node, ...script] = instruction('gateway', 'ENTRYPOINT');
      assert.equal(node, 'node');
      launch([...script, ...instruction('gateway', 'CMD')], env);
      replicas.set(name, { url: `http://127.0.0.1:${port}`, admin: `http://127.0.0.1:${adminPort}` });
    }
    // depends_on … service_healthy: what compose waits for, by running each replica's own health check.
    for (const [name, r] of replicas) {
      const [cmd, exe, ...args] = service(name).healthcheck?.test ?? [];
      assert.equal(cmd, 'CMD');
      assert.equal(exe, 'node');
      const check = args.map((a) => a.replace('127.0.0.1:9180', new URL(r.admin).host));
      await until(`${name} healthy`, 20_000, async () => {
        const probe = spawn(process.execPath, check, { stdio: 'ignore' });
        const [code] = (await once(probe, 'exit')) as [number | null];
        return code === 0 ? true : undefined;
      });
    }
  });

  after(async () => {
    await Promise.all(
      children.map(async (c) => {
        if (c.exitCode !== null || c.signalCode !== null) return;
        const exited = once(c, 'exit');
        c.kill('SIGTERM');
        await exited;
      }),
    );
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const replica = (name: string) => {
    const r = replicas.get(name);
    assert.ok(r);
    return r;
  };
  const chat = (name: string) => postJson(`${replica(name).url}/v1/chat/completions`, chatBody());
  async function breakerSeenBy(name: string, instance: string): Promise<string | undefined> {
    const res = await fetch(`${replica(name).admin}/status`, { headers: { 'x-api-key': ADMIN_KEY } });
    assert.equal(res.status, 200);
    const status = (await res.json()) as { state_store: string; routes: Array<{ instances: Array<{ name: string; breaker: { state: string } }> }> };
    assert.equal(status.state_store, 'redis');
    return status.routes[0]?.instances.find((i) => i.name === instance)?.breaker.state;
  }

  it('opens the primary breaker through replica 1 and replica 2 sees it, sending its traffic straight to the backup', async () => {
    for (const name of GATEWAYS) {
      const res = await chat(name);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers.get('x-ai-proxy-instance'), 'sim-primary', 'the priority instance serves while it is up');
      assert.equal(await breakerSeenBy(name, 'sim-primary'), 'closed');
    }
    const primary = sims.get('sim-primary');
    assert.ok(primary);
    const gone = once(primary.child, 'exit');
    primary.child.kill('SIGKILL');
    await gone;

    // failure_threshold 3 in config/fleet.json: three failed attempts through replica 1, each saved by the backup.
    for (let i = 0; i < 3; i++) {
      const res = await chat('gateway-1');
      assert.equal(res.status, 200, res.text);
      assert.equal(res.headers.get('x-ai-proxy-instance'), 'sim-backup');
      assert.equal(res.headers.get('x-ai-proxy-attempts'), '2');
    }
    assert.equal(await breakerSeenBy('gateway-1', 'sim-primary'), 'open');
    await until('replica 2 sees the open breaker', 5000, async () => ((await breakerSeenBy('gateway-2', 'sim-primary')) === 'open' ? true : undefined));
    const res = await chat('gateway-2');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-ai-proxy-instance'), 'sim-backup');
    assert.equal(res.headers.get('x-ai-proxy-attempts'), '1', 'replica 2 did not try the primary itself');
  });

  it('runs the demo traffic against both replicas', async () => {
    const traffic = service('demo-traffic');
    const args = (traffic.command ?? []).map((a) => {
      const m = /^http:\/\/(gateway-\d):(\d+)$/.exec(a);
      if (!m) return a;
      const r = replica(m[1] as string);
      return m[2] === '9080' ? r.url : r.admin;
    });
    const child = launch([...(traffic.entrypoint ?? []).slice(1), ...args, '--count', '4', '--interval-ms', '50'], { AIPM_ADMIN_KEY: ADMIN_KEY });
    let out = '';
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
    const answers = out.split('\n').filter((l) => / from /.test(l));
    assert.equal(answers.length, 4, out);
    assert.ok(answers.every((l) => / 200 from sim-backup/.test(l)), out);
    assert.match(out, /breakers .*sim-primary=open.*\|.*sim-primary=open/);
  });
});
