// Active health checks for one instance, run by exactly one replica of the fleet. Every
// replica ticks; on each tick the replica holding the lease `probe:{key}` probes and renews it, the
// others try to take it, so when the prober dies its lease expires and the next tick elsewhere takes
// over. The verdict lives in the store (`health:{key}`) and everyone, the prober included, reads it
// from there: one source of truth, and a synchronous read for the request hot path.
import type { ActiveCheckConfig } from '../config/types.ts';
import type { Logger } from '../observe/logger.ts';
import { systemClock } from '../state/state-store.ts';
import type { Clock, StateStore } from '../state/state-store.ts';
import { applyOutcome, classifyProbe, encodeVerdict, healthKey, parseVerdict, zeroCounters } from './health-state.ts';
import type { HealthCounters, HealthVerdict, ProbeOutcome } from './health-state.ts';
import type { ProbeResult } from './probe.ts';

export interface ActiveCheckerOptions {
  /** `route/instance`: names the lease and the verdict, so it must be the same on every replica. */
  key: string;
  check: ActiveCheckConfig;
  /** One probe; must settle soon after `signal` aborts (stop() waits for it). */
  probe: (signal: AbortSignal) => Promise<ProbeResult>;
  store: StateStore;
  clock?: Clock;
  log: Logger;
}

export interface LastProbe {
  at: number;
  outcome: ProbeOutcome;
  status?: number;
  code?: string;
}

export interface ActiveCheckSnapshot {
  /** undefined: no verdict yet (the caller treats the instance as healthy). */
  healthy: boolean | undefined;
  since: number | undefined;
  /** replicaId of the replica that last published the verdict (the prober, normally). */
  prober: string | undefined;
  /** This replica holds the probe lease. */
  probing: boolean;
  /** Live on the prober; as last published elsewhere. */
  counters: HealthCounters;
  /** Only on the replica that ran it. */
  lastProbe?: LastProbe;
}

export interface ActiveChecker {
  start(): void;
  /** Stops ticking, aborts a running probe, and releases the lease so another replica takes over now. */
  stop(): Promise<void>;
  healthy(): boolean | undefined;
  snapshot(): ActiveCheckSnapshot;
}

// Verdicts that did not change are re-published this often, so the entry's TTL never drops them.
const REFRESH_TICKS = 10;

/** APISIX disables probing on a side with interval 0; we would never recover, so use the other side's. */
function intervalMs(own: number, other: number): number {
  return (own > 0 ? own : other > 0 ? other : 1) * 1000;
}

function describe(result: ProbeResult, outcome: ProbeOutcome, at: number): LastProbe {
  if (result.kind === 'http') return { at, outcome, status: result.status };
  if (result.kind === 'tcp_failure') return { at, outcome, code: result.code };
  return { at, outcome };
}

export function createActiveChecker(opts: ActiveCheckerOptions): ActiveChecker {
  const { key, check, store, log } = opts;
  const clock = opts.clock ?? systemClock;
  const leaseName = `probe:${key}`;
  const verdictKey = healthKey(key);
  const healthyMs = intervalMs(check.healthy.interval, check.unhealthy.interval);
  const unhealthyMs = intervalMs(check.unhealthy.interval, check.healthy.interval);
  const longest = Math.max(healthyMs, unhealthyMs);
  // Renewals are one interval apart, or one probe timeout when probes are slower than the interval:
  // half as much again keeps a live prober's lease, while a dead one's is free soon after.
  const leaseTtl = Math.round(1.5 * Math.max(longest, check.timeout * 1000)) + 500;
  const verdictTtl = REFRESH_TICKS * longest + 60_000;

  let running = false;
  let holding = false;
  let timer: unknown;
  let ticking: Promise<void> | undefined;
  let inFlight: AbortController | undefined;
  let counters = zeroCounters();
  let sincePublish = 0;
  let lastProbe: LastProbe | undefined;

  const current = (): HealthVerdict | undefined => parseVerdict(store.get(verdictKey));

  function schedule(startedAt: number): void {
    if (!running) return;
    const interval = current()?.healthy === false ? unhealthyMs : healthyMs;
    // Measured from the tick's start, so probes stay one interval apart however long the store took.
    timer = clock.setTimeout(() => {
      timer = undefined;
      ticking = tick();
    }, Math.max(0, startedAt + interval - clock.now()));
  }

  async function tick(): Promise<void> {
    const startedAt = clock.now();
    try {
      await holdLease();
      if (holding && running) await probeAndRecord();
    } catch (err) {
      log.error({ err, check: key }, `active check ${key}: tick failed`);
    } finally {
      schedule(startedAt);
    }
  }

  async function holdLease(): Promise<void> {
    const had = holding;
    // A failed renewal may just mean it expired unclaimed: try to take it again at once.
    holding = (had && (await store.renewLease(leaseName, leaseTtl))) || (await store.acquireLease(leaseName, leaseTtl));
    if (holding && !had) {
      // Counts from a previous prober are not carried over: they were only published on changes.
      counters = zeroCounters();
      sincePublish = REFRESH_TICKS;
      log.debug({ check: key, replica: store.replicaId }, `active check ${key}: this replica probes`);
    }
  }

  async function probeAndRecord(): Promise<void> {
    const ac = new AbortController();
    inFlight = ac;
    let result: ProbeResult;
    try {
      result = await opts.probe(ac.signal);
    } catch (err) {
      if (!running) return;
      // A probe function that throws is a broken connection as far as the instance's health goes.
      const code = (err as { code?: unknown } | null)?.code;
      result = { kind: 'tcp_failure', code: typeof code === 'string' ? code : 'PROBE_ERROR' };
    } finally {
      inFlight = undefined;
    }
    if (!running) return;
    record(result);
  }

  function record(result: ProbeResult): void {
    const now = clock.now();
    const outcome = classifyProbe(result, check);
    lastProbe = describe(result, outcome, now);
    const before = current();
    const step = applyOutcome(before?.healthy, counters, outcome, check);
    counters = step.counters;
    sincePublish++;
    if (step.healthy === undefined) return;
    if (step.healthy !== before?.healthy) {
      publish({ healthy: step.healthy, since: now, by: store.replicaId, counters });
      const fields = { check: key, lastProbe, replica: store.replicaId };
      if (!step.healthy) log.warn(fields, `active check: ${key} is unhealthy (${step.reason ?? outcome})`);
      else if (before) log.info(fields, `active check: ${key} is healthy again (${step.reason ?? outcome})`);
      else log.debug(fields, `active check: ${key} is healthy`);
    } else if (before && sincePublish >= REFRESH_TICKS) {
      publish({ ...before, by: store.replicaId, counters });
    }
  }

  function publish(v: HealthVerdict): void {
    sincePublish = 0;
    store.put(verdictKey, encodeVerdict(v), verdictTtl);
  }

  return {
    start(): void {
      if (running) return;
      running = true;
      ticking = tick();
    },
    async stop(): Promise<void> {
      running = false;
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
      inFlight?.abort();
      await ticking;
      if (holding) {
        holding = false;
        await store.releaseLease(leaseName);
      }
    },
    healthy: () => current()?.healthy,
    snapshot(): ActiveCheckSnapshot {
      const v = current();
      return {
        healthy: v?.healthy,
        since: v?.since,
        prober: v?.by,
        probing: holding,
        counters: holding ? { ...counters } : (v?.counters ?? zeroCounters()),
        ...(lastProbe ? { lastProbe } : {}),
      };
    },
  };
}
