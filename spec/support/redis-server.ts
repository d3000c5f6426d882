// Real redis-server processes for the suite, each on its own free loopback port, never the shared 6379.
// Every process is killed when the test process exits, even after a failed test skipped its cleanup.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { freePort } from './free-port.ts';

export interface RedisProcess {
  url: string;
  port: number;
  /** Graceful stop (SIGTERM, SIGKILL after 2 s); resolves once the process is gone. */
  stop(): Promise<void>;
  /** SIGKILL: a crash, as far as the gateway can tell. Resolves once the process is gone. */
  kill(): Promise<void>;
  /** SIGSTOP: connections stay open but nothing answers (a hung Redis). */
  pause(): void;
  /** SIGCONT after pause(). */
  resume(): void;
  /** False once the process has exited. */
  alive(): boolean;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

export interface RedisStartOptions {
  /** Reused for restart tests; a free one otherwise. */
  port?: number;
  /** More command-line options (`--cluster-enabled yes`, `--replicaof ...`), given the chosen port. */
  args?: (port: number) => string[];
  /** A config file to start from, written for the chosen port (Sentinel needs one it can rewrite). */
  configFile?: (port: number) => Promise<string>;
}

/** Starts redis-server on `port` or on a free one. */
export async function startRedis(opts: RedisStartOptions = {}): Promise<RedisProcess> {
  installExitHook();
  let lastError: unknown;
  // A free port can be taken between probing and binding, and a reused one can linger: try a few times.
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = opts.port ?? (await freePort());
    try {
      const file = opts.configFile ? [await opts.configFile(port)] : [];
      return await launch(port, [...file, ...base(port), ...(opts.args?.(port) ?? [])]);
    } catch (err) {
      lastError = err;
      await sleep(200);
    }
  }
  throw new Error(`redis-server did not start: ${String(lastError)}`);
}

const base = (port: number): string[] => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'];

async function launch(port: number, args: string[]): Promise<RedisProcess> {
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-2000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      running.delete(child);
      resolve();
    });
  });
  let gone = false;
  void exited.then(() => (gone = true));

  const deadline = Date.now() + 5000;
  while (!(await answersPing(port))) {
    if (gone || Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      throw new Error(`redis-server on port ${port} not ready: ${output.trim().split('\n').slice(-3).join(' | ')}`);
    }
    await sleep(20);
  }

  const signal = async (sig: NodeJS.Signals, graceMs: number): Promise<void> => {
    if (gone) return;
    child.kill('SIGCONT'); // a paused process would ignore SIGTERM
    child.kill(sig);
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: () => signal('SIGTERM', 2000),
    kill: () => signal('SIGKILL', 0),
    pause: () => void child.kill('SIGSTOP'),
    resume: () => void child.kill('SIGCONT'),
    alive: () => !gone,
  };
}

/** A TCP server that accepts connections and never answers: a hung Redis. */
export async function startSilentServer(): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
