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
  in_flight: number;
  requests: number;
  failures: number;
  fallbacks: number;
  prompt_tokens: number;
  completion_tokens: number;
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
    in_flight: stats.inFlight,
    requests: stats.requests,
    failures: stats.failures,
    fallbacks: stats.fallbacks,
    prompt_tokens: stats.promptTokens,
    completion_tokens: stats.completionTokens,
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
