// What the status page shows beyond one instance's counters: a bounded timeline of recent fallbacks,
// failed requests, breaker and health changes, and the fleet's view — each replica publishes its
// last minute per instance to the state store (Redis for a fleet) every few seconds, and every replica
// reads all of them. Nothing here runs on a request's hot path but `observe`, which returns at once for
// a request served by its first attempt.
import { hostname } from 'node:os';
import type { AccessRecord } from '../observe/access-log.ts';
import type { RouteRuntime } from '../pipeline/route-runtime.ts';
import type { JsonValue, StateStore, StoreEntry } from '../state/state-store.ts';
import { isJsonObject } from '../protocols/types.ts';

export type StatusEventKind = 'fallback' | 'failed' | 'breaker_opened' | 'breaker_closed' | 'unhealthy' | 'healthy';

export interface StatusEvent {
  at: number;
  kind: StatusEventKind;
  route: string;
  /** The instance whose breaker or health changed. */
  instance?: string;
  /** A fallback: the instance that failed and the one tried next. */
  from?: string;
  to?: string;
  /** A fallback: the failed attempt's status; a failed request: what the client got. */
  status?: number;
  reason?: string;
  /** An opened breaker: when it admits its trial request. */
  until?: number;
  /** The replica that saw it (breaker and health changes come from whichever replica made them). */
  by: string;
  /** Fallbacks and failed requests: the replica's own sequence number, so others take each once. */
  seq?: number;
}

/** One replica's last minute for one instance, as published to the fleet. */
export interface ReplicaInstanceReport {
  attempts: number;
  failures: number;
  in_flight: number;
  tokens: number;
  /** USD of the answers whose price was known; null when none was. */
  cost_usd: number | null;
  latency_p50_ms: number | null;
  ttft_p50_ms: number | null;
  /** The newest failure this replica saw on the instance (ever, not only in the window). */
  last_error: { at: number; reason: string } | null;
}

export interface ReplicaReport {
  replica: string;
  host: string;
  pid: number;
  /** When the replica published this report. */
  at: number;
  store: 'memory' | 'redis' | 'redis-offline';
  routes: Record<string, Record<string, ReplicaInstanceReport>>;
  /** The replica's latest fallbacks and failed requests, for the other replicas' timelines. */
  events: StatusEvent[];
}

export interface StatusMonitor {
  /** Every access record: fallbacks and failed requests go into the timeline. */
  observe(record: AccessRecord): void;
  /** Newest first. */
  events(): StatusEvent[];
  /** Every replica's latest report (this one's fresh), this replica first. */
  replicas(now?: number): ReplicaReport[];
  start(): void;
  stop(): void;
}

export interface StatusMonitorOptions {
  store: StateStore;
  routes: () => readonly RouteRuntime[];
  /** Events kept; the oldest go first. */
  capacity?: number;
  publishMs?: number;
}

const REPLICA_PREFIX = 'replica:';
const DEFAULT_CAPACITY = 200;
const DEFAULT_PUBLISH_MS = 2_000;
// Request events a report carries: more than one replica sees between two reports on a sane fleet.
const PUBLISHED_EVENTS = 30;

function asNumber(x: JsonValue | undefined): number | undefined {
  return typeof x === 'number' && Number.isFinite(x) ? x : undefined;
}

export function createStatusMonitor(opts: StatusMonitorOptions): StatusMonitor {
  const { store } = opts;
  const capacity = opts.capacity ?? DEFAULT_CAPACITY;
  const publishMs = opts.publishMs ?? DEFAULT_PUBLISH_MS;
  // A ring: `next` is where the next event goes once it is full.
  const ring: StatusEvent[] = [];
  let next = 0;
  const seen = new Map<string, string>();
  const replicaIds = new Set<string>();
  let seq = 0;
  const ownEvents: StatusEvent[] = [];
  const lastSeqOf = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  const self = { host: hostname(), pid: process.pid };

  const add = (event: StatusEvent): void => {
    if (ring.length < capacity) ring.push(event);
    else {
      ring[next] = event;
      next = (next + 1) % capacity;
    }
  };

  /** `route/instance` (breaker and health keys) back to the route and instance, on the current routes. */
  const owner = (key: string): { route: string; instance: string } | undefined => {
    for (const route of opts.routes()) {
      for (const instance of route.instances.values()) {
        if (instance.breaker.key === key) return { route: route.config.id, instance: instance.name };
      }
    }
    return undefined;
  };

  const onChange = (key: string, entry: StoreEntry | undefined): void => {
    if (key.startsWith(REPLICA_PREFIX)) {
      const id = key.slice(REPLICA_PREFIX.length);
      const theirs = id === store.replicaId ? undefined : parseReport(entry);
      if (!theirs) return;
      replicaIds.add(id);
      // Their fallbacks and failed requests join this timeline once each.
      const seen = lastSeqOf.get(id) ?? 0;
      let newest = seen;
      for (const e of Array.isArray(theirs.events) ? theirs.events : []) {
        if (typeof e?.seq !== 'number' || e.seq <= seen || typeof e.at !== 'number') continue;
        add({ ...e, by: id });
        newest = Math.max(newest, e.seq);
      }
      lastSeqOf.set(id, newest);
      return;
    }
    const value = entry?.value;
    if (!isJsonObject(value)) return;
    const breaker = key.startsWith('breaker:');
    if (!breaker && !key.startsWith('health:')) return;
    const where = owner(key.slice(key.indexOf(':') + 1));
    const since = asNumber(value['since']);
    if (!where || since === undefined) return;
    const by = typeof value['by'] === 'string' ? value['by'] : '';
    if (breaker) {
      const state = value['state'];
      if (state !== 'open' && state !== 'closed') return;
      // Reconciles and pub/sub echo the same record: one event per change.
      const id = `${state}@${since}`;
      if (seen.get(key) === id) return;
      seen.set(key, id);
      const reason = typeof value['reason'] === 'string' ? value['reason'] : undefined;
      const until = state === 'open' ? asNumber(value['until']) : undefined;
      add({ at: since, kind: state === 'open' ? 'breaker_opened' : 'breaker_closed', ...where, ...(reason && { reason }), ...(until !== undefined && { until }), by });
      return;
    }
    const healthy = value['healthy'];
    if (typeof healthy !== 'boolean') return;
    // Verdicts are re-published unchanged to keep them alive: only a new `since` is a change.
    const id = `${healthy}@${since}`;
    if (seen.get(key) === id) return;
    seen.set(key, id);
    add({ at: since, kind: healthy ? 'healthy' : 'unhealthy', ...where, by });
  };
  store.onChange(onChange);

  function parseReport(entry: StoreEntry | undefined): ReplicaReport | undefined {
    const v = entry?.value;
    if (!isJsonObject(v) || typeof v['replica'] !== 'string' || !isJsonObject(v['routes'])) return undefined;
    return v as unknown as ReplicaReport;
  }

  const report = (now: number): ReplicaReport => {
    const routes: ReplicaReport['routes'] = {};
    for (const route of opts.routes()) {
      const instances: Record<string, ReplicaInstanceReport> = {};
      for (const instance of route.instances.values()) {
        const t = instance.recent.totals(now);
        instances[instance.name] = {
          attempts: t.attempts,
          failures: t.failures,
          in_flight: instance.stats.inFlight,
          tokens: t.promptTokens + t.completionTokens,
          cost_usd: t.costUsd ?? null,
          latency_p50_ms: t.latencyP50Ms ?? null,
          ttft_p50_ms: t.ttftP50Ms ?? null,
          last_error: instance.stats.lastError ? { ...instance.stats.lastError } : null,
        };
      }
      routes[route.config.id] = instances;
    }
    return { replica: store.replicaId, ...self, at: now, store: store.mode(), routes, events: [...ownEvents] };
  };

  /** A fallback or failed request seen here: the timeline, and the next report for the other replicas. */
  const addOwn = (event: StatusEvent): void => {
    const numbered = { ...event, seq: ++seq };
    add(numbered);
    ownEvents.push(numbered);
    if (ownEvents.length > PUBLISHED_EVENTS) ownEvents.shift();
  };

  const publish = (): void => {
    // Offline there is no one to tell, and the store's reconnect check and resync need Redis to themselves.
    if (store.mode() === 'redis-offline') return;
    const mine = report(Date.now());
    // A replica that stops reporting drops off every page a little later.
    store.put(REPLICA_PREFIX + store.replicaId, mine as unknown as JsonValue, Math.max(publishMs * 3, 15_000));
  };

  return {
    observe(record) {
      const { attempts } = record;
      const failed = record.status >= 500 || record.status === 429;
      if (attempts.length < 2 && !(failed && attempts.length > 0)) return;
      const at = Date.now();
      for (let i = 1; i < attempts.length; i++) {
        const from = attempts[i - 1];
        const to = attempts[i];
        // Two attempts on one instance are a token refresh, not a fallback (as in the metrics).
        if (!from || !to || from.instance === to.instance) continue;
        addOwn({ at, kind: 'fallback', route: record.route, from: from.instance, to: to.instance, status: from.status, ...(from.reason && { reason: from.reason }), by: store.replicaId });
      }
      if (failed) {
        const reason = record.error ?? attempts[attempts.length - 1]?.reason;
        addOwn({ at, kind: 'failed', route: record.route, status: record.status, ...(reason && { reason }), by: store.replicaId });
      }
    },
    events() {
      return [...ring].sort((a, b) => b.at - a.at);
    },
    replicas(now = Date.now()) {
      const all = [report(now)];
      for (const id of replicaIds) {
        if (id === store.replicaId) continue;
        const theirs = parseReport(store.get(REPLICA_PREFIX + id));
        if (theirs) all.push(theirs);
        else replicaIds.delete(id);
      }
      return all;
    },
    start() {
      if (timer) return;
      publish();
      timer = setInterval(publish, publishMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
