import { Writable } from 'node:stream';
import { loadConfigText } from '../../lib/load-config.ts';
import type { Gateway } from '../../lib/gateway.ts';
import { createGateway } from '../../lib/gateway.ts';
import { createLogger } from '../../lib/observe/logger.ts';
import type { Logger } from '../../lib/observe/logger.ts';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface TestGateway {
  url: string;
  adminUrl: string | null;
  gateway: Gateway;
  logs: LogLine[];
  /** Access records logged so far. */
  access(): Array<Record<string, unknown>>;
  close(): Promise<void>;
}

/** The plugin block of a one-route config, with everything else defaulted for tests. */
export function routeConfig(plugin: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    server: { host: '127.0.0.1', port: 0 },
    admin: false,
    routes: [{ id: 'r1', uris: ['/v1/*'], plugins: { 'ai-proxy-multi': plugin } }],
    ...extra,
  };
}

export function instance(name: string, url: string, more: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    provider: 'openai-compatible',
    weight: 1,
    auth: { header: { Authorization: `Bearer sk-${name}-secret-key-123456` } },
    override: { endpoint: url },
    ...more,
  };
}

/** A debug logger whose JSON lines are parsed into `lines` as they are written. */
export function captureLogger(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  let pending = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      pending += chunk.toString('utf8');
      let nl: number;
      while ((nl = pending.indexOf('\n')) !== -1) {
        lines.push(JSON.parse(pending.slice(0, nl)) as LogLine);
        pending = pending.slice(nl + 1);
      }
      done();
    },
  });
  return { log: createLogger('debug', sink), lines };
}

/** Starts a real gateway on a free loopback port with logs captured in memory. */
export async function startGateway(config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Promise<TestGateway> {
  const { log, lines: logs } = captureLogger();
  const cfg = loadConfigText(JSON.stringify(config), env);
  const gateway = await createGateway(cfg, { logger: log });
  const { port, adminPort } = await gateway.listen();
  return {
    url: `http://127.0.0.1:${port}`,
    adminUrl: adminPort === null ? null : `http://127.0.0.1:${adminPort}`,
    gateway,
    logs,
    access: () => logs.filter((l) => l['access']).map((l) => l['access'] as Record<string, unknown>),
    close: () => gateway.close(),
  };
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; text: string; json: unknown }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export const chatBody = (extra: Record<string, unknown> = {}) => ({
  model: 'client-model',
  messages: [{ role: 'user', content: 'Hello there' }],
  ...extra,
});
