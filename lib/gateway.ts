import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import type { GatewayConfig } from './config/types.ts';
import { createConsumerRegistry } from './consumers/consumer-registry.ts';
import type { ConsumerRegistry } from './consumers/consumer-registry.ts';
import type { ConfigProblem } from './errors.ts';
import { ConfigError } from './errors.ts';
import { createAdminApp } from './http/admin-app.ts';
import { createDataApp } from './http/data-app.ts';
import { connectionLimits } from './http/connection-guard.ts';
import { createDualListener, guardAdminServer } from './http/listener.ts';
import { createRouteMatcher } from './http/route-matcher.ts';
import type { Logger } from './observe/logger.ts';
import { createLogger } from './observe/logger.ts';
import { createMetrics } from './observe/metrics.ts';
import { createLimitCounter } from './limits/limit-counter.ts';
import { SecretScrubber, staticSecretsOf } from './observe/secret-scrubber.ts';
import { createTracing } from './observe/tracing.ts';
import type { Tracing } from './observe/tracing.ts';
import { createRouteRuntime } from './pipeline/route-runtime.ts';
import type { RouteRuntime } from './pipeline/route-runtime.ts';
import { buildStatus } from './http/status-report.ts';
import { createStatusMonitor } from './http/status-monitor.ts';
import type { StatusReport } from './http/status-report.ts';
import type { Registry } from 'prom-client';
import { createServer } from './runtime/node-http.ts';
import { createPassthroughProxy } from './transport/passthrough-proxy.ts';
import { PoolRegistry } from './transport/pool-registry.ts';
import { createStateStore } from './state/create-store.ts';
import type { Clock, StateStore } from './state/state-store.ts';
import { systemClock } from './state/state-store.ts';

export interface ReloadResult {
  applied: boolean;
  problems: ConfigProblem[];
  routes: number;
}

export interface Gateway {
  /** The routes now serving (a reload replaces them). */
  readonly routes: readonly RouteRuntime[];
  readonly store: StateStore;
  /** This process's metrics (a worker hands them to the primary, which aggregates). */
  readonly metricsRegistry: Registry;
  /** What `GET /status` answers. */
  status(): StatusReport;
  /** Re-reads the config through `loadConfig` and applies it, as `POST /reload` does. */
  reloadFromSource(): Promise<ReloadResult>;
  listen(): Promise<{ port: number; adminPort: number | null }>;
  /**
   * Swaps the routes for those of `next` without dropping a request: requests in flight finish on the
   * routes they started on. Listeners, admin and Redis settings need a restart and are refused.
   */
  reload(next: GatewayConfig): Promise<ReloadResult>;
  /** Stop accepting, let in-flight requests and streams finish (bounded), then release everything. */
  close(): Promise<void>;
}

function listenOn(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export interface GatewayOptions {
  logger?: Logger;
  /** Injected in tests; defaults to the store `config.redis` asks for. */
  store?: StateStore;
  clock?: Clock;
  /** Reads the config again for `POST /reload` and SIGHUP (the CLI passes its config file). */
  loadConfig?: () => GatewayConfig;
  /** Defaults to what the OpenTelemetry variables of `process.env` ask for (off without an endpoint). */
  tracing?: Tracing;
  /** false: no admin listener even if the config has one (a worker: the primary process serves it). */
  admin?: boolean;
  /** Told when the data plane goes from nothing in flight to busy and back (the CLI's idle memory reducer). */
  activity?: { busy(): void; idle(): void };
}

export async function createGateway(config: GatewayConfig, opts: GatewayOptions = {}): Promise<Gateway> {
  const log = opts.logger ?? createLogger(config.log.level);
  const clock = opts.clock ?? systemClock;
  // First: a bad OTEL_* value fails start-up before anything is opened.
  const tracing = opts.tracing ?? (await createTracing(process.env, log));
  const store = opts.store ?? await createStateStore(config.redis, log, { clock });
  const pools = new PoolRegistry();
  const limitCounter = createLimitCounter(store, clock, log.child({ component: 'limits' }));
  const build = (cfg: GatewayConfig): RouteRuntime[] => {
    const built: RouteRuntime[] = [];
    // Every credential of every instance, and the OAuth tokens their authorizers hold right now.
    const scrubber = new SecretScrubber(cfg.routes.flatMap((r) => r.plugin.instances.flatMap(staticSecretsOf)), function* () {
      for (const route of built) for (const i of route.instances.values()) yield* i.target.authorizer?.secrets?.() ?? [];
    });
    for (const route of cfg.routes) built.push(createRouteRuntime(route, { pools, store, clock, log, scrubber, tracing, limitCounter }));
    return built;
  };
  let routes = build(config);
  let matcher = createRouteMatcher(routes);
  // Swapped with the routes on reload: a new key works, a removed one is refused, from the next request.
  let consumers: ConsumerRegistry = createConsumerRegistry(config.consumers);
  let listening = false;
  let shuttingDown = false;
  let inFlight = 0;
  let drained: (() => void) | undefined;

  const monitor = createStatusMonitor({ store, routes: () => routes });
  const counted = createMetrics(
    function* () {
      for (const route of routes) {
        for (const [name, instance] of route.instances) {
          yield {
            route: route.config.id,
            instance: name,
            inFlight: () => instance.stats.inFlight,
            breaker: () => instance.breaker.state(),
            health: () => instance.healthState(),
            quotaHeld: () => !instance.quota.allows(),
          };
        }
      }
    },
    store.mode() === 'memory' ? undefined : () => store.connected(),
    { consumerLabel: config.consumers.length > 0 },
  );
  // Every access record also feeds the status page's timeline (fallbacks, failed requests).
  const metrics = {
    ...counted,
    observe(record: Parameters<typeof counted.observe>[0]) {
      counted.observe(record);
      monitor.observe(record);
    },
  };
  const proxy = createPassthroughProxy();
  const dataPlane = createDataApp((req) => matcher(req), log, metrics, () => shuttingDown, {
    maxDepth: config.server.max_json_depth,
    maxArrayLength: config.server.max_json_array_length,
  }, proxy, () => consumers);
  const track = (res: { once(event: 'close', fn: () => void): unknown }): void => {
    inFlight += 1;
    if (inFlight === 1) opts.activity?.busy();
    res.once('close', () => {
      inFlight -= 1;
      if (inFlight === 0) {
        drained?.();
        opts.activity?.idle();
      }
    });
  };
  // The same deadlines on both listeners. LLM answers can take minutes: the deadlines bound what the
  // client sends and idle connections; the per-upstream `timeout` bounds the answer.
  const listenerOptions = {
    limits: connectionLimits(config.server),
    maxConnections: config.server.max_connections,
    metrics: metrics.connections,
  };
  const listener = createDualListener(
    (req, res) => {
      track(res);
      void dataPlane.http1(req, res);
    },
    (req, res) => {
      track(res);
      dataPlane.http2(req, res);
    },
    listenerOptions,
  );

  async function reload(next: GatewayConfig): Promise<ReloadResult> {
    const fixed: Array<keyof GatewayConfig> = ['server', 'admin', 'redis'];
    const changed = fixed.filter((key) => !isDeepStrictEqual(next[key], config[key]));
    if (changed.length > 0) {
      const problems = changed.map((key) => ({ path: `/${key}`, message: 'changes only take effect after a restart' }));
      return { applied: false, problems, routes: routes.length };
    }
    const previous = routes;
    const fresh = build(next);
    // Counters follow an instance that keeps its route and name; breaker and health live in the store.
    for (const route of fresh) {
      const old = previous.find((r) => r.config.id === route.config.id);
      for (const [name, instance] of route.instances) {
        const before = old?.instances.get(name);
        // inFlight stays per object: requests still running on the old routes count down the old one.
        if (before) instance.inheritCounters(before);
      }
    }
    routes = fresh;
    matcher = createRouteMatcher(fresh);
    consumers = createConsumerRegistry(next.consumers);
    log.level = next.log.level;
    if (listening) for (const route of fresh) route.start();
    await Promise.all(previous.map((route) => route.stop()));
    log.info({ routes: fresh.length }, `configuration reloaded: ${fresh.length} routes`);
    return { applied: true, problems: [], routes: fresh.length };
  }

  async function reloadFromSource(): Promise<ReloadResult> {
    if (!opts.loadConfig) {
      return { applied: false, problems: [{ path: '', message: 'this gateway was not started from a config file' }], routes: routes.length };
    }
    try {
      return await reload(opts.loadConfig());
    } catch (err) {
      if (err instanceof ConfigError) {
        log.warn({ problems: err.problems.length }, 'configuration reload refused: the new file is invalid');
        return { applied: false, problems: [...err.problems], routes: routes.length };
      }
      throw err;
    }
  }

  const adminServer = config.admin && opts.admin !== false
    ? createServer(createAdminApp({
        apiKey: config.admin.api_key,
        isReady: () => listening && !shuttingDown,
        status: () => buildStatus(routes, store, monitor),
        metrics: metrics.registry,
        reload: reloadFromSource,
      }))
    : undefined;
  if (adminServer) guardAdminServer(adminServer, listenerOptions);

  return {
    get routes() {
      return routes;
    },
    store,
    metricsRegistry: metrics.registry,
    status: () => buildStatus(routes, store, monitor),
    reloadFromSource,
    reload,
    async listen() {
      // Bounded: with Redis down the store starts offline and keeps reconnecting.
      await store.start();
      const port = await listener.listen(config.server.port, config.server.host);
      let adminPort: number | null = null;
      if (adminServer && config.admin) adminPort = await listenOn(adminServer, config.admin.host, config.admin.port);
      listening = true;
      for (const route of routes) route.start();
      monitor.start();
      log.info({ port, adminPort, routes: routes.length }, `ai-proxy-multi listening on ${config.server.host}:${port}`);
      return { port, adminPort };
    },
    async close() {
      if (shuttingDown) return;
      shuttingDown = true;
      monitor.stop();
      const closed = listener.stopAccepting();
      if (inFlight > 0) {
        log.info({ inFlight }, 'draining in-flight requests');
        const allDone = new Promise<void>((resolve) => (drained = resolve));
        const timeout = new Promise<void>((resolve) => setTimeout(resolve, config.server.shutdown_timeout_ms).unref());
        await Promise.race([allDone, timeout]);
      }
      listener.destroyAll();
      await closed;
      if (adminServer?.listening) {
        adminServer.closeAllConnections();
        await new Promise<void>((resolve) => adminServer.close(() => resolve()));
      }
      await Promise.all(routes.map((route) => route.stop()));
      await store.close();
      await pools.destroy();
      proxy.close();
      await tracing.shutdown();
      log.info('ai-proxy-multi stopped');
    },
  };
}
