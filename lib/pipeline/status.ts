import type { RouteRuntime } from './route-runtime.ts';

export interface InstanceStatus {
  name: string;
  provider: string;
  weight: number;
  priority: number;
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
}

export interface StatusReport {
  generated_at: string;
  routes: Array<{ id: string; instances: InstanceStatus[] }>;
}

/** The JSON behind `GET /status` and `ai-proxy-multi status`. */
export function buildStatus(routes: readonly RouteRuntime[]): StatusReport {
  return {
    generated_at: new Date().toISOString(),
    routes: routes.map((route) => {
      const all = [...route.instances.values()];
      const total = all.reduce((n, i) => n + i.stats.requests, 0);
      return {
        id: route.config.id,
        instances: all.map(({ config, stats }) => ({
          name: config.name,
          provider: config.provider,
          weight: config.weight,
          priority: config.priority,
          in_flight: stats.inFlight,
          requests: stats.requests,
          failures: stats.failures,
          fallbacks: stats.fallbacks,
          prompt_tokens: stats.promptTokens,
          completion_tokens: stats.completionTokens,
          latency_ewma_ms: stats.latencyEwmaMs === undefined ? null : Math.round(stats.latencyEwmaMs * 10) / 10,
          traffic_share: total === 0 ? 0 : Math.round((stats.requests / total) * 1000) / 1000,
          last_error: stats.lastError ? { at: new Date(stats.lastError.at).toISOString(), reason: stats.lastError.reason } : null,
        })),
      };
    }),
  };
}
