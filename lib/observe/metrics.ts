import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AccessRecord } from './access-log.ts';

/** What the metrics read live at scrape time (in-flight gauges stay exact because they are not counted twice). */
export interface InstanceGaugeSource {
  route: string;
  instance: string;
  inFlight(): number;
}

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
export function createMetrics(gauges: () => Iterable<InstanceGaugeSource>, redisConnected?: () => boolean): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'aipm_process_' });
  const requests = new Counter({
    name: 'aipm_requests_total',
    help: 'Client requests by route, final instance and status',
    labelNames: ['route', 'instance', 'status', 'type'],
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
    help: 'Requests that moved from one instance to another',
    labelNames: ['route'],
    registers: [registry],
  });
  const tokens = new Counter({
    name: 'aipm_tokens_total',
    help: 'Tokens reported by providers',
    labelNames: ['route', 'instance', 'kind'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'aipm_request_duration_seconds',
    help: 'Whole request duration as the client saw it',
    labelNames: ['route', 'type'],
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const ttft = new Histogram({
    name: 'aipm_time_to_first_token_seconds',
    help: 'Time from request to the first content byte sent to the client (streams)',
    labelNames: ['route', 'instance'],
    buckets: TTFT_BUCKETS,
    registers: [registry],
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
      requests.inc({ route: r.route, instance, status: String(r.status), type: r.request_type });
      for (const a of r.attempts) attempts.inc({ route: r.route, instance: a.instance, status: String(a.status) });
      if (r.fallbacks > 0) fallbacks.inc({ route: r.route }, r.fallbacks);
      if (r.prompt_tokens) tokens.inc({ route: r.route, instance, kind: 'prompt' }, r.prompt_tokens);
      if (r.completion_tokens) tokens.inc({ route: r.route, instance, kind: 'completion' }, r.completion_tokens);
      duration.observe({ route: r.route, type: r.request_type }, r.duration_ms / 1000);
      if (r.ttft_ms !== undefined) ttft.observe({ route: r.route, instance }, r.ttft_ms / 1000);
    },
  };
}
