import type { RouteConfig } from '../config/types.ts';
import type { HashRequest } from '../balancer/hash-key.ts';
import { createHashKeyExtractor } from '../balancer/hash-key.ts';
import { createPicker } from '../balancer/picker.ts';
import { InstanceBreaker } from '../breaker/instance-breaker.ts';
import { createActiveChecker } from '../health/active-checker.ts';
import { probeOnce } from '../health/probe.ts';
import { ProviderQuota, quotaKeyOf } from '../health/provider-quota.ts';
import { createInstanceLimits } from '../limits/instance-limits.ts';
import type { InstanceLimits } from '../limits/instance-limits.ts';
import { createLimitCounter } from '../limits/limit-counter.ts';
import type { LimitCounter } from '../limits/limit-counter.ts';
import { createRequestLimits } from '../limits/request-limits.ts';
import type { RequestLimits } from '../limits/request-limits.ts';
import type { Logger } from '../observe/logger.ts';
import { createInstanceTarget } from '../providers/instance-target.ts';
import type { ProtocolName } from '../protocols/types.ts';
import type { Clock, StateStore } from '../state/state-store.ts';
import type { SecretScrubber } from '../observe/secret-scrubber.ts';
import type { Tracing } from '../observe/tracing.ts';
import { noTracing } from '../observe/tracing.ts';
import { createConcurrencyGate } from '../transport/concurrency-gate.ts';
import type { PoolRegistry } from '../transport/pool-registry.ts';
import { InstanceRuntime } from './instance-runtime.ts';
import { planAll } from './plan.ts';
import { createSemanticRouter, type SemanticRouter } from './semantic-router.ts';

export interface RouteRuntime {
  config: RouteConfig;
  /** Hides every instance's credentials in text that came from an upstream. */
  scrubber: SecretScrubber;
  /** Spans for requests and attempts (a no-op unless traces are exported). */
  tracing: Tracing;
  instances: ReadonlyMap<string, InstanceRuntime>;
  /** The consumer's and the route's limits, checked before the first attempt. */
  limits: RequestLimits;
  /** `ai-rate-limiting` instance limits: charged always, consulted while picking with `rate_limiting`. */
  instanceLimits: InstanceLimits;
  /**
   * With `rate_limiting`: when untried instances for `protocol` were skipped for being over their own
   * limit, seconds until the first may admit again (undefined when none was).
   */
  limitWaitSec(tried: ReadonlySet<string>, protocol: ProtocolName): number | undefined;
  /** Next instance for this request, or undefined when none is left; `prefer` first when it can serve. */
  pick(tried: ReadonlySet<string>, protocol: ProtocolName, req: HashRequest, prefer?: string): InstanceRuntime | undefined;
  /** balancer.algorithm "semantic": chooses the instance to prefer for a request. */
  semantic: SemanticRouter | undefined;
  /** When every untried instance for `protocol` is held out by its breaker: ms until the first one admits a request. */
  breakerWaitMs(tried: ReadonlySet<string>, protocol: ProtocolName): number | undefined;
  /**
   * When untried instances for `protocol` are held out because their provider said nothing is left:
   * ms until the first such hold ends (undefined when none is).
   */
  quotaWaitMs(tried: ReadonlySet<string>, protocol: ProtocolName): number | undefined;
  /**
   * When an untried instance's breaker is asking for its half-open trial lease: resolves true once one
   * such request settles (bounded by `maxWaitMs`), so the caller may pick again; false at once if none.
   */
  awaitTrial(tried: ReadonlySet<string>, protocol: ProtocolName, maxWaitMs: number): Promise<boolean>;
  start(): void;
  stop(): Promise<void>;
}

export interface RuntimeDeps {
  pools: PoolRegistry;
  store: StateStore;
  clock: Clock;
  log: Logger;
  scrubber: SecretScrubber;
  tracing?: Tracing;
  /** Shared by the routes of one gateway, so a Redis outage is reported once; built from `store` when absent. */
  limitCounter?: LimitCounter;
}

export function createRouteRuntime(route: RouteConfig, deps: RuntimeDeps): RouteRuntime {
  const plugin = route.plugin;
  const instances = new Map<string, InstanceRuntime>();
  for (const config of plugin.instances) {
    const target = createInstanceTarget(config);
    const key = `${route.id}/${config.name}`;
    const pool = deps.pools.get(target.origin, {
      keepalive: plugin.keepalive,
      keepaliveTimeoutMs: plugin.keepalive_timeout,
      idleConnections: plugin.keepalive_pool,
      // undici's own timers are a backstop behind the attempt's watchdog: the longest phase limit.
      timeoutMs: Math.max(plugin.timeout, plugin.send_timeout, plugin.read_timeout),
      connectTimeoutMs: plugin.connect_timeout,
      sslVerify: plugin.ssl_verify,
    });
    const log = deps.log.child({ route: route.id, instance: config.name });
    const breaker = new InstanceBreaker({
      key,
      config: config.breaker,
      store: deps.store,
      clock: deps.clock,
      log,
      trialLeaseMs: plugin.timeout + 5000,
    });
    const check = config.checks?.active;
    const health = check
      ? createActiveChecker({ key, check, probe: (signal) => probeOnce(target, check, signal), store: deps.store, clock: deps.clock, log })
      : undefined;
    const gate = config.max_concurrency === undefined ? undefined : createConcurrencyGate(config.name, config.max_concurrency);
    const model = typeof config.options['model'] === 'string' ? config.options['model'] : undefined;
    const credentials = [target.authHeaders, target.authQuery, config.auth.aws?.access_key_id, config.auth.gcp?.service_account_json, config.provider_conf.project_id];
    const quota = new ProviderQuota({ key: quotaKeyOf(target.origin, credentials, model), store: deps.store, clock: deps.clock, log });
    instances.set(config.name, new InstanceRuntime({ config, target, pool, plans: planAll(target), breaker, health, gate, quota }));
  }
  const all = [...instances.values()];
  const closed = new AbortController();
  const semantic = plugin.semantic ? createSemanticRouter(plugin, plugin.semantic, deps.pools, deps.log, closed.signal) : undefined;
  const picker = createPicker(plugin.instances, { algorithm: plugin.balancer.algorithm });
  const limitCounter = deps.limitCounter ?? createLimitCounter(deps.store, deps.clock, deps.log);
  const instanceLimits = createInstanceLimits(route.id, route.rate_limiting, limitCounter, deps.clock);
  // APISIX's meaning: instance limits are consulted while picking only with `rate_limiting`.
  const withinLimit = plugin.fallback.rateLimitAware ? (name: string) => instanceLimits.admits(name) : () => true;
  const hashKey =
    plugin.balancer.algorithm === 'chash'
      ? createHashKeyExtractor(plugin.balancer.hash_on, plugin.balancer.key)
      : undefined;

  return {
    config: route,
    scrubber: deps.scrubber,
    tracing: deps.tracing ?? noTracing,
    instances,
    semantic,
    limits: createRequestLimits(route, limitCounter),
    instanceLimits,
    limitWaitSec(tried, protocol) {
      if (!plugin.fallback.rateLimitAware) return undefined;
      return instanceLimits.resetSec(all.filter((i) => !tried.has(i.config.name) && i.plans.has(protocol)).map((i) => i.config.name));
    },
    pick(tried, protocol, req, prefer) {
      // Better a possibly-sick instance than none: when every capable one is unhealthy, use them all.
      const allUnhealthy = all.every((i) => !i.plans.has(protocol) || i.health?.healthy() === false);
      const eligible = (n: string): boolean => {
        const i = instances.get(n);
        if (!i || !i.plans.has(protocol)) return false;
        if (!allUnhealthy && i.health?.healthy() === false) return false;
        if (!withinLimit(n)) return false;
        return i.quota.allows() && i.breaker.allows();
      };
      const name =
        prefer !== undefined && !tried.has(prefer) && eligible(prefer)
          ? prefer
          : picker.pick({ exclude: tried, eligible, hashKey: hashKey?.(req) });
      const picked = name === undefined ? undefined : instances.get(name);
      picked?.breaker.onDispatch();
      return picked;
    },
    breakerWaitMs(tried, protocol) {
      let wait: number | undefined;
      for (const i of all) {
        if (tried.has(i.config.name) || !i.plans.has(protocol) || i.breaker.allows()) continue;
        // Half-open but the trial belongs to another replica: worth retrying soon.
        const ms = Math.max(i.breaker.waitMs(), 1000);
        wait = wait === undefined ? ms : Math.min(wait, ms);
      }
      return wait;
    },
    quotaWaitMs(tried, protocol) {
      let wait: number | undefined;
      for (const i of all) {
        if (tried.has(i.config.name) || !i.plans.has(protocol)) continue;
        const ms = i.quota.waitMs();
        if (ms !== undefined) wait = wait === undefined ? ms : Math.min(wait, ms);
      }
      return wait;
    },
    async awaitTrial(tried, protocol, maxWaitMs) {
      const pending: Array<Promise<void>> = [];
      for (const i of all) {
        if (tried.has(i.config.name) || !i.plans.has(protocol)) continue;
        const decision = i.breaker.trialDecision();
        if (decision) pending.push(decision);
      }
      if (pending.length === 0) return false;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, maxWaitMs)));
      await Promise.race([...pending, timeout]);
      clearTimeout(timer);
      return true;
    },
    start() {
      for (const i of all) i.health?.start();
      semantic?.start();
    },
    async stop() {
      closed.abort();
      await Promise.all(all.map(async (i) => {
        await i.health?.stop();
        await i.breaker.close();
      }));
    },
  };
}
