import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { ClientAbortedError } from '../../lib/errors.ts';
import { loadConfigText } from '../../lib/load-config.ts';
import type { AccessRecord } from '../../lib/observe/access-log.ts';
import { createMetrics } from '../../lib/observe/metrics.ts';
import type { Metrics } from '../../lib/observe/metrics.ts';
import type { Logger } from '../../lib/observe/logger.ts';
import { SecretScrubber, staticSecretsOf } from '../../lib/observe/secret-scrubber.ts';
import type { AttemptResult } from '../../lib/pipeline/attempt.ts';
import { runAttempt } from '../../lib/pipeline/attempt.ts';
import type { InstanceRuntime } from '../../lib/pipeline/instance-runtime.ts';
import type { RequestContext, RequestPlan } from '../../lib/pipeline/request-context.ts';
import { createRouteRuntime } from '../../lib/pipeline/route-runtime.ts';
import type { RouteRuntime } from '../../lib/pipeline/route-runtime.ts';
import { clientProtocol, detectProtocol } from '../../lib/protocols/detect.ts';
import type { JsonObject } from '../../lib/protocols/types.ts';
import { createMemoryStore } from '../../lib/state/memory-store.ts';
import { systemClock } from '../../lib/state/state-store.ts';
import type { Clock, StateStore } from '../../lib/state/state-store.ts';
import { PoolRegistry } from '../../lib/transport/pool-registry.ts';
import { captureLogger, routeConfig } from './gateway-harness.ts';
import type { LogLine } from './gateway-harness.ts';

// The pipeline without the HTTP layer in front of it: a real route runtime (config loader, providers,
// breakers on an in-memory store, undici pools) and a bare node:http server that hands each request
// to handleRequest or runAttempt as lib/http/data-plane.ts would, with logs and access records kept.

export type { LogLine };
export { captureLogger };

export interface TestRoute {
  route: RouteRuntime;
  log: Logger;
  lines: LogLine[];
  instance(name: string): InstanceRuntime;
  close(): Promise<void>;
}

/** One route built from an `ai-proxy-multi` plugin block, as the gateway builds it (breakers on `clock`). */
export function buildRoute(plugin: Record<string, unknown>, opts: { clock?: Clock; store?: StateStore } = {}): TestRoute {
  const clock = opts.clock ?? systemClock;
  const config = loadConfigText(JSON.stringify(routeConfig(plugin)), {});
  const routeCfg = config.routes[0];
  if (!routeCfg) throw new Error('no route');
  const { log, lines } = captureLogger();
  const pools = new PoolRegistry();
  const scrubber = new SecretScrubber(routeCfg.plugin.instances.flatMap(staticSecretsOf));
  const route = createRouteRuntime(routeCfg, { pools, store: opts.store ?? createMemoryStore({ clock }), clock, log, scrubber });
  return {
    route,
    log,
    lines,
    instance(name) {
      const found = route.instances.get(name);
      if (!found) throw new Error(`no instance ${name}`);
      return found;
    },
    async close() {
      await route.stop();
      await pools.destroy();
    },
  };
}

export interface Front {
  url: string;
  /** Access records, in the order the requests finished (what metrics observed). */
  records: AccessRecord[];
  close(): Promise<void>;
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of req) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** A bare HTTP front: every POST becomes a RequestContext for `handle`. */
export async function startFront(test: TestRoute, handle: (ctx: RequestContext) => Promise<void>): Promise<Front> {
  const records: AccessRecord[] = [];
  const real = createMetrics(() => []);
  const metrics: Metrics = { ...real, observe: (record: AccessRecord) => void records.push(record) };
  const sockets = new Set<Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    void readAll(req).then(async (raw) => {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const path = q === -1 ? url : url.slice(0, q);
      const body = JSON.parse(raw.toString('utf8')) as JsonObject;
      await handle({
        reqId: 'test',
        req,
        res,
        route: test.route,
        protocol: clientProtocol(detectProtocol(path, body)),
        body,
        raw,
        pathAndQuery: url,
        hash: { path, query: new URLSearchParams(q === -1 ? '' : url.slice(q + 1)), headers: req.headers, remoteAddr: '127.0.0.1', host: req.headers.host, method: req.method },
        log: test.log,
        metrics,
        started,
      });
    }).catch((err: unknown) => {
      test.log.error({ err }, 'front handler threw');
      res.destroy();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    records,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Status the front answers with when the attempt wrote nothing: the client saw no byte of it. */
export const NOTHING_WRITTEN = 599;

/**
 * A front that runs ONE attempt on `instance` per request and keeps its result. When the attempt
 * wrote nothing (it failed), the client gets an empty 599, never a rendered error.
 */
export async function startAttemptFront(test: TestRoute, instance: string): Promise<Front & { results: AttemptResult[]; next(): Promise<AttemptResult> }> {
  const results: AttemptResult[] = [];
  const waiters: Array<(r: AttemptResult) => void> = [];
  const front = await startFront(test, async (ctx) => {
    const client = new AbortController();
    ctx.res.on('close', () => {
      if (!ctx.res.writableFinished) client.abort(new ClientAbortedError());
    });
    const target = test.instance(instance);
    const plan = target.plans.get(ctx.protocol.name);
    if (!plan) throw new Error(`instance ${instance} has no plan for ${ctx.protocol.name}`);
    const request: RequestPlan = {
      ctx,
      stream: ctx.protocol.isStream(ctx.body, ctx.hash.path),
      requestModel: ctx.protocol.requestModel(ctx.body, ctx.hash.path),
      clientSignal: client.signal,
    };
    const result = await runAttempt(request, target, plan);
    if (!ctx.res.headersSent && !ctx.res.destroyed) {
      ctx.res.writeHead(NOTHING_WRITTEN);
      ctx.res.end();
    }
    const waiter = waiters.shift();
    if (waiter) waiter(result);
    else results.push(result);
  });
  return {
    ...front,
    results,
    next: () => {
      const ready = results.shift();
      return ready ? Promise.resolve(ready) : new Promise((resolve) => waiters.push(resolve));
    },
  };
}
