import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AccessRecord } from './access-log.ts';

/** What the metrics read live at scrape time (in-flight gauges stay exact because they are not counted twice). */
export interface InstanceGaugeSource {
  route: string;
  instance: string;
  inFlight(): number;
  breaker(): 'closed' | 'open' | 'half_open';
  health(): 'healthy' | 'unhealthy' | 'unknown' | 'unchecked';
  /** The provider said the instance's key has nothing left (until its reset). Absent = never. */
  quotaHeld?(): boolean;
}

const BREAKER_STATES = ['closed', 'open', 'half_open'] as const;
const HEALTH_STATES = ['healthy', 'unhealthy', 'unknown', 'unchecked'] as const;
// Model names come from providers' answers: a label per name must not grow without bound.
const MAX_MODEL_LABELS = 50;

export type ListenerName = 'data' | 'admin';

/** Connection-level events, from the listeners rather than from requests. */
export interface ConnectionMetrics {
  opened(listener: ListenerName): void;
  closed(listener: ListenerName): void;
  /** A connection closed (or an HTTP/2 stream reset) for missing its deadline at `stage`. */
  timedOut(listener: ListenerName, stage: string): void;
  /** Closed at accept: `server.max_connections` were already open. */
  rejected(listener: ListenerName): void;
}

export interface Metrics {
  registry: Registry;
  observe(record: AccessRecord): void;
  connections: ConnectionMetrics;
}

const DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const TTFT_BUCKETS = [0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 2, 5, 10];

/**
 * Prometheus metrics, fed once per request from the access record.
 * `redisConnected` (given only when the state store uses Redis) backs `aipm_redis_connected`.
 */
export function createMetrics(
  gauges: () => Iterable<InstanceGaugeSource>,
  redisConnected?: () => boolean,
  opts: { consumerLabel?: boolean } = {},
): Metrics {
  // Only a gateway with consumers pays for the extra label (decided at start; a reload keeps it).
  const byConsumer = opts.consumerLabel === true;
  const withConsumer = (names: string[]): string[] => (byConsumer ? [...names, 'consumer'] : names);
  const consumerOf = (r: AccessRecord): { consumer?: string } => (byConsumer ? { consumer: r.consumer ?? '' } : {});
  const registry = new Registry();
  // prom-client's names already start with `process_` / `nodejs_`: `aipm_process_cpu_seconds_total`.
  collectDefaultMetrics({ register: registry, prefix: 'aipm_' });
  const models = new Set<string>();
  const modelLabel = (model: string | undefined): string => {
    if (model === undefined || model === '') return 'unknown';
    if (models.has(model)) return model;
    if (models.size >= MAX_MODEL_LABELS) return 'other';
    models.add(model);
    return model;
  };
  const requests = new Counter({
    name: 'aipm_requests_total',
    help: 'Client requests by route, the instance that answered (none when the gateway answered an error itself or the instance failed), status and type',
    labelNames: withConsumer(['route', 'instance', 'status', 'type']),
    registers: [registry],
  });
  const attempts = new Counter({
    name: 'aipm_upstream_attempts_total',
    help: 'Upstream attempts by instance and upstream status (499 = client gone, 502/504 = connect/timeout)',
    labelNames: ['route', 'instance', 'status'],
    registers: [registry],
  });
  const fallbacks = new Counter({
    name: 'aipm_fallbacks_total',
    help: 'Moves from one instance to the next within a request, by the failed attempt\'s status (502 connection, 504 timeout)',
    labelNames: ['route', 'from', 'to', 'status'],
    registers: [registry],
  });
  const tokens = new Counter({
    name: 'aipm_tokens_total',
    help: 'Tokens reported by providers, by model (at most 50 model names, then "other")',
    labelNames: withConsumer(['route', 'instance', 'model', 'kind']),
    registers: [registry],
  });
  const cost = new Counter({
    name: 'aipm_cost_usd_total',
    help: 'USD spent on answers whose price is known (price table or the instance\'s price), by model (bounded as for tokens) and consumer ("" when none)',
    labelNames: ['route', 'instance', 'model', 'consumer'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'aipm_request_duration_seconds',
    help: 'Whole request duration as the client saw it',
    labelNames: ['route', 'type', 'model'],
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const ttft = new Histogram({
    name: 'aipm_time_to_first_token_seconds',
    help: 'Time from request to the first content byte sent to the client (streams)',
    labelNames: ['route', 'instance', 'model'],
    buckets: TTFT_BUCKETS,
    registers: [registry],
  });
  new Gauge({
    name: 'aipm_instance_breaker_state',
    help: 'Circuit breaker state per instance: 1 on the current state (closed, open, half_open), 0 on the others',
    labelNames: ['route', 'instance', 'state'],
    registers: [registry],
    // Several workers of one host share the state: summing their 1s would count it once per worker.
    aggregator: 'max',
    collect() {
      for (const g of gauges()) {
        const current = g.breaker();
        for (const state of BREAKER_STATES) this.set({ route: g.route, instance: g.instance, state }, state === current ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'aipm_instance_health',
    help: 'Active health per instance: 1 on the current state (healthy, unhealthy, unknown, unchecked), 0 on the others',
    labelNames: ['route', 'instance', 'state'],
    registers: [registry],
    aggregator: 'max',
    collect() {
      for (const g of gauges()) {
        const current = g.health();
        for (const state of HEALTH_STATES) this.set({ route: g.route, instance: g.instance, state }, state === current ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'aipm_instance_provider_quota_held',
    help: '1 while the instance is skipped because its provider\'s rate-limit headers said its key has nothing left, until the announced reset; else 0',
    labelNames: ['route', 'instance'],
    registers: [registry],
    collect() {
      for (const g of gauges()) this.set({ route: g.route, instance: g.instance }, g.quotaHeld?.() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'aipm_instance_in_flight',
    help: 'Upstream requests in flight per instance',
    labelNames: ['route', 'instance'],
    registers: [registry],
    collect() {
      for (const g of gauges()) this.set({ route: g.route, instance: g.instance }, g.inFlight());
    },
  });
  if (redisConnected) {
    new Gauge({
      name: 'aipm_redis_connected',
      help: '1 while breaker and health state is shared through Redis, 0 while Redis is unavailable and this replica serves on local state',
      registers: [registry],
      aggregator: 'min',
      collect() {
        this.set(redisConnected() ? 1 : 0);
      },
    });
  }

  const open = new Gauge({
    name: 'aipm_connections_open',
    help: 'Client connections open, per listener',
    labelNames: ['listener'],
    registers: [registry],
  });
  const timedOut = new Counter({
    name: 'aipm_connections_timed_out_total',
    help: 'Client connections closed (HTTP/2: streams reset at stage body) for missing a deadline: first_byte, headers, body (gap between body bytes), idle',
    labelNames: ['listener', 'stage'],
    registers: [registry],
  });
  const rejected = new Counter({
    name: 'aipm_connections_rejected_total',
    help: 'Client connections closed at accept because server.max_connections were open',
    labelNames: ['listener'],
    registers: [registry],
  });

  return {
    registry,
    connections: {
      opened: (listener) => open.inc({ listener }),
      closed: (listener) => open.dec({ listener }),
      timedOut: (listener, stage) => timedOut.inc({ listener, stage }),
      rejected: (listener) => rejected.inc({ listener }),
    },
    observe(r) {
      const instance = r.instance ?? 'none';
      // A request whose answer is an error (the gateway's summary, or an instance's 429/5xx) was not served.
      const served = r.status < 500 && r.status !== 429 ? instance : 'none';
      const model = modelLabel(r.llm_model);
      const who = consumerOf(r);
      requests.inc({ route: r.route, instance: served, status: String(r.status), type: r.request_type, ...who });
      for (const a of r.attempts) attempts.inc({ route: r.route, instance: a.instance, status: String(a.status) });
      for (let i = 1; i < r.attempts.length; i++) {
        const from = r.attempts[i - 1];
        const to = r.attempts[i];
        // Two lines for one instance are a token refresh (Vertex 401), not a fallback.
        if (from && to && from.instance !== to.instance) fallbacks.inc({ route: r.route, from: from.instance, to: to.instance, status: String(from.status) });
      }
      if (r.prompt_tokens) tokens.inc({ route: r.route, instance, model, kind: 'prompt', ...who }, r.prompt_tokens);
      if (r.completion_tokens) tokens.inc({ route: r.route, instance, model, kind: 'completion', ...who }, r.completion_tokens);
      if (r.cost_usd !== undefined) cost.inc({ route: r.route, instance, model, consumer: r.consumer ?? '' }, r.cost_usd);
      duration.observe({ route: r.route, type: r.request_type, model }, r.duration_ms / 1000);
      if (r.ttft_ms !== undefined) ttft.observe({ route: r.route, instance, model }, r.ttft_ms / 1000);
    },
  };
}
