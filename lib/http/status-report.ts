import type { StateStore } from '../state/state-store.ts';
import type { InstanceRuntime } from '../pipeline/instance-runtime.ts';
import type { RouteRuntime } from '../pipeline/route-runtime.ts';
import { RECENT_WINDOW_MS } from '../observe/recent-window.ts';
import type { ReplicaReport, StatusEvent, StatusMonitor } from './status-monitor.ts';

export interface InstanceStatus {
  name: string;
  provider: string;
  weight: number;
  priority: number;
  /** Active checks' verdict (shared by the fleet); `unchecked` when no `checks.active` is configured. */
  health: 'healthy' | 'unhealthy' | 'unknown' | 'unchecked';
  /** When the active checks' verdict last changed, and the replica that probed. */
  health_since: string | null;
  health_reported_by: string | null;
  breaker: {
    state: 'closed' | 'open' | 'half_open';
    since: string | null;
    /** When an open breaker admits its trial request. */
    until: string | null;
    reason: string | null;
    /** The replica that opened or closed it. */
    reported_by: string | null;
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
  /** The share the balancer aims for: weight over the weights of the instance's priority group. */
  expected_share: number;
  /** This replica, over the last `window_ms`. */
  last_minute: {
    attempts: number;
    /** Of this route's attempts (0..1). */
    share: number;
    failures: number;
    prompt_tokens: number;
    completion_tokens: number;
    /** USD of the answers whose price is known; null when none was. */
    cost_usd: number | null;
    latency_p50_ms: number | null;
    ttft_p50_ms: number | null;
  };
}

/** A replica's report without its events (they are in the timeline already). */
export type FleetReplica = Omit<ReplicaReport, 'events'>;

export interface StatusReport {
  generated_at: string;
  state_store: 'memory' | 'redis' | 'redis-offline';
  /** The replica that answered. */
  replica: string;
  /** The span `last_minute` covers. */
  window_ms: number;
  routes: Array<{ id: string; instances: InstanceStatus[] }>;
  /** Every replica's last minute per instance, as each last published it (this replica first). */
  fleet: FleetReplica[];
  /** Recent fallbacks, failed requests, breaker and health changes, newest first. */
  events: StatusEvent[];
}

/** The JSON behind `GET /status` and `ai-proxy-multi status`. */
function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

function instanceStatus(instance: InstanceRuntime, route: RouteRuntime, routeRequests: number, routeRecent: number, now: number): InstanceStatus {
  const { config, stats } = instance;
  const breaker = instance.breaker.snapshot();
  const health = instance.health?.snapshot();
  const recent = instance.recent.totals(now);
  const group = route.config.plugin.instances.filter((i) => i.priority === config.priority);
  const groupWeight = group.reduce((n, i) => n + i.weight, 0);
  const scrub = (text: string): string => route.scrubber.scrub(text);
  const quota = instance.quota.snapshot();
  return {
    name: config.name,
    provider: config.provider,
    weight: config.weight,
    priority: config.priority,
    health: instance.healthState(),
    health_since: iso(health?.since),
    health_reported_by: health?.prober ?? null,
    breaker: {
      state: breaker.state,
      since: iso(breaker.since),
      until: iso(breaker.until),
      reason: breaker.reason ? scrub(breaker.reason) : null,
      reported_by: breaker.by ?? null,
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
    last_error: stats.lastError ? { at: new Date(stats.lastError.at).toISOString(), reason: scrub(stats.lastError.reason) } : null,
    expected_share: groupWeight === 0 ? 0 : ratio(config.weight / groupWeight),
    last_minute: {
      attempts: recent.attempts,
      share: routeRecent === 0 ? 0 : ratio(recent.attempts / routeRecent),
      failures: recent.failures,
      prompt_tokens: recent.promptTokens,
      completion_tokens: recent.completionTokens,
      cost_usd: recent.costUsd === undefined ? null : Number(recent.costUsd.toFixed(12)),
      latency_p50_ms: recent.latencyP50Ms ?? null,
      ttft_p50_ms: recent.ttftP50Ms ?? null,
    },
  };
}

/** Other replicas scrubbed their reports with the same credentials; this is the second line. */
function scrubReport(replica: ReplicaReport, scrub: (text: string) => string): FleetReplica {
  const { events: _events, ...rest } = replica;
  const routes: ReplicaReport['routes'] = {};
  for (const [route, instances] of Object.entries(rest.routes)) {
    routes[route] = {};
    for (const [name, s] of Object.entries(instances)) {
      routes[route][name] = s.last_error ? { ...s, last_error: { at: s.last_error.at, reason: scrub(String(s.last_error.reason)) } } : s;
    }
  }
  return { ...rest, routes };
}

const ratio = (x: number): number => Math.round(x * 1000) / 1000;

export function buildStatus(routes: readonly RouteRuntime[], store: StateStore, monitor: StatusMonitor, now = Date.now()): StatusReport {
  // Every route shares one scrubber (all credentials of the config); events from other replicas pass it too.
  const scrub = (text: string): string => routes[0]?.scrubber.scrub(text) ?? text;
  return {
    generated_at: new Date(now).toISOString(),
    state_store: store.mode(),
    replica: store.replicaId,
    window_ms: RECENT_WINDOW_MS,
    routes: routes.map((route) => {
      const all = [...route.instances.values()];
      const total = all.reduce((n, i) => n + i.stats.requests, 0);
      const recent = all.reduce((n, i) => n + i.recent.totals(now).attempts, 0);
      return { id: route.config.id, instances: all.map((instance) => instanceStatus(instance, route, total, recent, now)) };
    }),
    fleet: monitor.replicas(now).map((replica) => scrubReport(replica, scrub)),
    events: monitor.events().map((e) => (e.reason === undefined ? e : { ...e, reason: scrub(e.reason) })),
  };
}

/**
 * One host's view from its workers' reports (`server.workers`): breaker and health are shared, so they
 * come from the first; counts add up; latency is the mean of the workers that have one.
 */
export function mergeStatusReports(reports: readonly StatusReport[]): StatusReport {
  const [first, ...rest] = reports;
  if (!first) return { generated_at: new Date().toISOString(), state_store: 'memory', replica: '', window_ms: RECENT_WINDOW_MS, routes: [], fleet: [], events: [] };
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
      const recent = instance.last_minute;
      const lm = (pick: (m: InstanceStatus['last_minute']) => number) => all.reduce((n, i) => n + pick(i.last_minute), 0);
      recent.attempts = lm((m) => m.attempts);
      recent.failures = lm((m) => m.failures);
      recent.prompt_tokens = lm((m) => m.prompt_tokens);
      recent.completion_tokens = lm((m) => m.completion_tokens);
      const costs = all.map((i) => i.last_minute.cost_usd).filter((c): c is number => c !== null);
      recent.cost_usd = costs.length === 0 ? null : costs.reduce((a, b) => a + b, 0);
      // Medians do not add up: the workers' mean is an estimate, as for the EWMA.
      const mean = (xs: Array<number | null>) => {
        const known = xs.filter((x): x is number => x !== null);
        return known.length === 0 ? null : Math.round((known.reduce((a, b) => a + b, 0) / known.length) * 10) / 10;
      };
      recent.latency_p50_ms = mean(all.map((i) => i.last_minute.latency_p50_ms));
      recent.ttft_p50_ms = mean(all.map((i) => i.last_minute.ttft_p50_ms));
    }
    const total = route.instances.reduce((n, i) => n + i.requests, 0);
    for (const instance of route.instances) instance.traffic_share = total === 0 ? 0 : Math.round((instance.requests / total) * 1000) / 1000;
    const recentTotal = route.instances.reduce((n, i) => n + i.last_minute.attempts, 0);
    for (const instance of route.instances) instance.last_minute.share = recentTotal === 0 ? 0 : ratio(instance.last_minute.attempts / recentTotal);
  }
  // Every worker publishes its own report and sees the others' (the store is shared): one list, each once.
  const fleet = new Map<string, FleetReplica>();
  for (const r of reports) for (const replica of r.fleet) if (!fleet.has(replica.replica)) fleet.set(replica.replica, replica);
  merged.fleet = [...fleet.values()];
  const events = new Map<string, StatusEvent>();
  for (const r of reports) for (const e of r.events) events.set(`${e.by}|${e.kind}|${e.at}|${e.seq ?? ''}|${e.instance ?? e.from ?? ''}`, e);
  merged.events = [...events.values()].sort((a, b) => b.at - a.at).slice(0, 200);
  return merged;
}
