// The APISIX active-check state machine (lua-resty-healthcheck `incr_counter`), kept pure so the thresholds
// are tested without timers, plus the shape of the verdict every replica reads from the state store.
import type { ActiveCheckConfig } from '../config/types.ts';
import type { JsonValue, StoreEntry } from '../state/state-store.ts';
import type { ProbeResult } from './probe.ts';

export type ProbeOutcome = 'success' | 'http_failure' | 'timeout' | 'tcp_failure' | 'neutral';

/** Consecutive outcomes since the last success (failures) or the last failure (successes). */
export interface HealthCounters {
  successes: number;
  http_failures: number;
  timeouts: number;
  tcp_failures: number;
}

/** What the probing replica publishes under `health:{key}`. */
export interface HealthVerdict {
  healthy: boolean;
  /** Prober's clock when the verdict last changed. */
  since: number;
  /** replicaId of the replica that reached the verdict. */
  by: string;
  counters: HealthCounters;
}

export interface HealthStep {
  healthy: boolean | undefined;
  counters: HealthCounters;
  /** Set when this outcome crossed a threshold: why, in words a log reader understands. */
  reason?: string;
}

export const zeroCounters = (): HealthCounters => ({ successes: 0, http_failures: 0, timeouts: 0, tcp_failures: 0 });

export const healthKey = (key: string): string => `health:${key}`;

export function classifyProbe(result: ProbeResult, check: ActiveCheckConfig): ProbeOutcome {
  switch (result.kind) {
    case 'connected':
      return 'success';
    case 'timeout':
      return 'timeout';
    case 'tcp_failure':
      return 'tcp_failure';
    case 'http':
      // APISIX: a status in neither list is ignored (does not reset any counter either).
      if (check.healthy.http_statuses.includes(result.status)) return 'success';
      if (check.unhealthy.http_statuses.includes(result.status)) return 'http_failure';
      return 'neutral';
  }
}

const failureLabels = { http_failures: 'HTTP failures', timeouts: 'timeouts', tcp_failures: 'TCP failures' } as const;

/**
 * One probe outcome applied to the current verdict. As in lua-resty-healthcheck: a success clears every
 * failure counter, a failure clears only the success counter (so 1 timeout + 1 HTTP failure each keep
 * counting), outcomes that agree with the verdict are not counted, a threshold of 0 disables that
 * counter, and crossing a threshold resets all counters.
 */
export function applyOutcome(
  healthy: boolean | undefined,
  counters: HealthCounters,
  outcome: ProbeOutcome,
  check: ActiveCheckConfig,
): HealthStep {
  if (outcome === 'neutral') return { healthy, counters };
  if (outcome === 'success') {
    if (healthy === true) return { healthy, counters: zeroCounters() };
    const successes = counters.successes + 1;
    const limit = check.healthy.successes;
    if (limit > 0 && successes >= limit) {
      return { healthy: true, counters: zeroCounters(), reason: `${successes} consecutive successes` };
    }
    return { healthy, counters: { ...zeroCounters(), successes } };
  }
  if (healthy === false) return { healthy, counters: zeroCounters() };
  const field = outcome === 'http_failure' ? 'http_failures' : outcome === 'timeout' ? 'timeouts' : 'tcp_failures';
  const next = { ...counters, successes: 0, [field]: counters[field] + 1 };
  const limit = check.unhealthy[field];
  if (limit > 0 && next[field] >= limit) {
    return { healthy: false, counters: zeroCounters(), reason: `${next[field]} consecutive ${failureLabels[field]}` };
  }
  return { healthy, counters: next };
}

export function encodeVerdict(v: HealthVerdict): JsonValue {
  return { healthy: v.healthy, since: v.since, by: v.by, ...v.counters };
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const num = (x: unknown): number => (typeof x === 'number' && Number.isFinite(x) ? x : 0);

/** The verdict in a store entry, or undefined when there is none (yet) or it is not ours to read. */
export function parseVerdict(entry: StoreEntry | undefined): HealthVerdict | undefined {
  const v = entry?.value;
  if (!isRecord(v) || typeof v.healthy !== 'boolean') return undefined;
  return {
    healthy: v.healthy,
    since: num(v.since),
    by: typeof v.by === 'string' ? v.by : '',
    counters: {
      successes: num(v.successes),
      http_failures: num(v.http_failures),
      timeouts: num(v.timeouts),
      tcp_failures: num(v.tcp_failures),
    },
  };
}
