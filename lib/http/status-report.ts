import type { StateStore } from '../state/state-store.ts';
import type { InstanceRuntime } from '../pipeline/instance-runtime.ts';
import type { RouteRuntime } from '../pipeline/route-runtime.ts';

export interface InstanceStatus {
  name: string;
  provider: string;
  weight: number;
  priority: number;
  /** Active checks' verdict (shared by the fleet); `unchecked` when no `checks.active` is configured. */
  health: 'healthy' | 'unhealthy' | 'unknown' | 'unchecked';
  breaker: {
    state: 'closed' | 'open' | 'half_open';
    since: string | null;
    /** When an open breaker admits its trial request. */
    until: string | null;
    reason: string | null;
    failures_in_window: number;
    calls_in_window: number;
  };
  /** Set while the provider's rate-limit headers said nothing is left: skipped by the fleet until `until`. */
  provider_quota: { until: string; reason: string } | null;
  in_flight: number;
  requests: number;
  failures: number;
  fallbacks: number;
  prompt_tokens: number;
  completion_tokens: number;
  /** USD spent on this instance's answers whose price is known, since start. */
  cost_usd: number;
  latency_ewma_ms: number | null;
  /** Share of this route's requests that went to the instance (0..1). */
  traffic_share: number;
  last_error: { at: string; reason: string } | null;
}

export interface StatusReport {
  generated_at: string;
  state_store: 'memory' | 'redis' | 'redis-offline';
  routes: Array<{ id: string; instances: InstanceStatus[] }>;
}

/** The JSON behind `GET /status` and `ai-proxy-multi status`. */
function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

function instanceStatus(instance: InstanceRuntime, routeRequests: number): InstanceStatus {
  const { config, stats } = instance;
  const breaker = instance.breaker.snapshot();
  const quota = instance.quota.snapshot();
  return {
    name: config.name,
    provider: config.provider,
    weight: config.weight,
    priority: config.priority,
    health: instance.healthState(),
    breaker: {
      state: breaker.state,
      since: iso(breaker.since),
      until: iso(breaker.until),
      reason: breaker.reason ?? null,
      failures_in_window: breaker.failuresInWindow,
      calls_in_window: breaker.callsInWindow,
    },
    provider_quota: quota ? { until: new Date(quota.until).toISOString(), reason: quota.reason } : null,
    in_flight: stats.inFlight,
    requests: stats.requests,
    failures: stats.failures,
    fallbacks: stats.fallbacks,
    prompt_tokens: stats.promptTokens,
    completion_tokens: stats.completionTokens,
    cost_usd: Number(stats.costUsd.toFixed(12)),
    latency_ewma_ms: stats.latencyEwmaMs === undefined ? null : Math.round(stats.latencyEwmaMs * 10) / 10,
    traffic_share: routeRequests === 0 ? 0 : Math.round((stats.requests / routeRequests) * 1000) / 1000,
    last_error: stats.lastError ? { at: new Date(stats.lastError.at).toISOString(), reason: stats.lastError.reason } : null,
  };
}

export function buildStatus(routes: readonly RouteRuntime[], store: StateStore): StatusReport {
  return {
    generated_at: new Date().toISOString(),
    state_store: store.mode(),
    routes: routes.map((route) => {
      const all = [...route.instances.values()];
      const total = all.reduce((n, i) => n + i.stats.requests, 0);
      return { id: route.config.id, instances: all.map((instance) => instanceStatus(instance, total)) };
    }),
  };
}

/**
 * One host's view from its workers' reports (`server.workers`): breaker and health are shared, so they
 * come from the first; counts add up; latency is the mean of the workers that have one.
 */
export function mergeStatusReports(reports: readonly StatusReport[]): StatusReport {
  const [first, ...rest] = reports;
  if (!first) return { generated_at: new Date().toISOString(), state_store: 'memory', routes: [] };
  const merged: StatusReport = structuredClone(first);
  for (const route of merged.routes) {
    for (const instance of route.instances) {
      const all = [instance, ...rest.map((r) => r.routes.find((x) => x.id === route.id)?.instances.find((i) => i.name === instance.name)).filter((i) => i !== undefined)];
      const sum = (pick: (i: InstanceStatus) => number) => all.reduce((n, i) => n + pick(i), 0);
      instance.in_flight = sum((i) => i.in_flight);
      instance.requests = sum((i) => i.requests);
      instance.failures = sum((i) => i.failures);
      instance.fallbacks = sum((i) => i.fallbacks);
      instance.prompt_tokens = sum((i) => i.prompt_tokens);
      instance.completion_tokens = sum((i) => i.completion_tokens);
      const latencies = all.map((i) => i.latency_ewma_ms).filter((l): l is number => l !== null);
      instance.latency_ewma_ms = latencies.length === 0 ? null : Math.round((latencies.reduce((a, b) => a + b, 0) / latencies.length) * 10) / 10;
      instance.last_error = all.map((i) => i.last_error).filter((e) => e !== null).sort((a, b) => b.at.localeCompare(a.at))[0] ?? null;
    }
    const total = route.instances.reduce((n, i) => n + i.requests, 0);
    for (const instance of route.instances) instance.traffic_share = total === 0 ? 0 : Math.round((instance.requests / total) * 1000) / 1000;
  }
  return merged;
}
