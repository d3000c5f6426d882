import type { Pool } from 'undici';
import type { InstanceConfig, RouteConfig } from '../config/types.ts';
import type { HashRequest } from '../balancer/hash-key.ts';
import { createHashKeyExtractor } from '../balancer/hash-key.ts';
import { createPicker } from '../balancer/picker.ts';
import type { InstanceTarget } from '../providers/instance-target.ts';
import { createInstanceTarget } from '../providers/instance-target.ts';
import type { ProtocolName } from '../protocols/types.ts';
import type { PoolRegistry } from '../transport/pool-registry.ts';

/** Live counters of one instance; read by /status and metrics. */
export interface InstanceStats {
  inFlight: number;
  requests: number;
  failures: number;
  fallbacks: number;
  promptTokens: number;
  completionTokens: number;
  latencyEwmaMs: number | undefined;
  lastError: { at: number; reason: string } | undefined;
}

export interface InstanceRuntime {
  config: InstanceConfig;
  target: InstanceTarget;
  pool: Pool;
  stats: InstanceStats;
}

export interface RouteRuntime {
  config: RouteConfig;
  instances: ReadonlyMap<string, InstanceRuntime>;
  /** Next instance for this request, or undefined when none is left. */
  pick(tried: ReadonlySet<string>, protocol: ProtocolName, req: HashRequest): InstanceRuntime | undefined;
}

const EWMA_WEIGHT = 0.2;

export function recordLatency(stats: InstanceStats, ms: number): void {
  stats.latencyEwmaMs = stats.latencyEwmaMs === undefined ? ms : stats.latencyEwmaMs + EWMA_WEIGHT * (ms - stats.latencyEwmaMs);
}

export function createRouteRuntime(route: RouteConfig, pools: PoolRegistry): RouteRuntime {
  const plugin = route.plugin;
  const instances = new Map<string, InstanceRuntime>();
  for (const config of plugin.instances) {
    const target = createInstanceTarget(config);
    const pool = pools.get(target.origin, {
      keepalive: plugin.keepalive,
      keepaliveTimeoutMs: plugin.keepalive_timeout,
      connections: plugin.keepalive_pool,
      timeoutMs: plugin.timeout,
      sslVerify: plugin.ssl_verify,
    });
    instances.set(config.name, {
      config,
      target,
      pool,
      stats: {
        inFlight: 0,
        requests: 0,
        failures: 0,
        fallbacks: 0,
        promptTokens: 0,
        completionTokens: 0,
        latencyEwmaMs: undefined,
        lastError: undefined,
      },
    });
  }
  const picker = createPicker(plugin.instances, { algorithm: plugin.balancer.algorithm });
  const hashKey =
    plugin.balancer.algorithm === 'chash'
      ? createHashKeyExtractor(plugin.balancer.hash_on, plugin.balancer.key)
      : undefined;

  return {
    config: route,
    instances,
    pick(tried, protocol, req) {
      const name = picker.pick({
        exclude: tried,
        eligible: (n) => instances.get(n)?.target.supports(protocol) === true,
        hashKey: hashKey?.(req),
      });
      return name === undefined ? undefined : instances.get(name);
    },
  };
}
