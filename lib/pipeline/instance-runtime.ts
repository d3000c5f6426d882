import type { Pool } from 'undici';
import type { InstanceBreaker } from '../breaker/instance-breaker.ts';
import type { InstanceConfig } from '../config/types.ts';
import { costUsd } from '../cost/cost-usd.ts';
import type { PriceSource } from '../cost/cost-usd.ts';
import type { ActiveChecker } from '../health/active-checker.ts';
import type { ProviderQuota } from '../health/provider-quota.ts';
import type { ProtocolName, Usage } from '../protocols/types.ts';
import type { InstanceTarget } from '../providers/instance-target.ts';
import { RecentWindow } from '../observe/recent-window.ts';
import type { ConcurrencyGate } from '../transport/concurrency-gate.ts';
import type { Plan } from './plan.ts';

/** Live counters of one instance; read by /status and metrics. */
export interface InstanceStats {
  inFlight: number;
  requests: number;
  failures: number;
  fallbacks: number;
  promptTokens: number;
  completionTokens: number;
  /** USD of the answers whose price is known. */
  costUsd: number;
  latencyEwmaMs: number | undefined;
  lastError: { at: number; reason: string } | undefined;
}

/** What one finished attempt means for its instance (the pipeline's `settle` decides it). */
export type InstanceVerdict =
  /** The instance answered: a success, or an error that was the request's fault. */
  | { kind: 'answered' }
  /** A 429, 5xx, timeout, connection error or in-band stream error. */
  | { kind: 'failed'; reason: string; retryAfterSec: number | undefined }
  /** Nothing about the instance: the client left, the request could not be built or converted, our queue was full. */
  | { kind: 'not-about-instance' };

export type HealthState = 'healthy' | 'unhealthy' | 'unknown' | 'unchecked';

const EWMA_WEIGHT = 0.2;

export interface InstanceParts {
  config: InstanceConfig;
  target: InstanceTarget;
  pool: Pool;
  /** How each client protocol reaches this instance (native or converted); absent = cannot serve it. */
  plans: ReadonlyMap<ProtocolName, Plan>;
  breaker: InstanceBreaker;
  /** Active health checks, when `checks.active` is configured. */
  health: ActiveChecker | undefined;
  /** `max_concurrency`, when configured. */
  gate: ConcurrencyGate | undefined;
  /** What the provider's rate-limit headers say is left (fleet-wide). */
  quota: ProviderQuota;
}

/** One instance of one route at run time: its parts, and the only code that changes its counters. */
export class InstanceRuntime {
  readonly config: InstanceConfig;
  readonly target: InstanceTarget;
  readonly pool: Pool;
  readonly plans: ReadonlyMap<ProtocolName, Plan>;
  readonly breaker: InstanceBreaker;
  readonly health: ActiveChecker | undefined;
  readonly gate: ConcurrencyGate | undefined;
  readonly quota: ProviderQuota;
  readonly #prices: PriceSource;
  #stats: InstanceStats = {
    inFlight: 0,
    requests: 0,
    failures: 0,
    fallbacks: 0,
    promptTokens: 0,
    completionTokens: 0,
    costUsd: 0,
    latencyEwmaMs: undefined,
    lastError: undefined,
  };
  #recent = new RecentWindow();

  constructor(parts: InstanceParts) {
    this.config = parts.config;
    this.target = parts.target;
    this.pool = parts.pool;
    this.plans = parts.plans;
    this.breaker = parts.breaker;
    this.health = parts.health;
    this.gate = parts.gate;
    this.quota = parts.quota;
    this.#prices = { table: parts.target.provider.priceTable, override: parts.config.price };
  }

  /** What an answer of this instance cost in USD: its `price`, else the price table; undefined = unknown. */
  costOf(usage: Usage, model: string | undefined): number | undefined {
    return costUsd(usage, model, this.#prices);
  }

  get name(): string {
    return this.config.name;
  }

  get stats(): Readonly<InstanceStats> {
    return this.#stats;
  }

  /** The last minute's attempts, failures, tokens and medians (the status page). */
  get recent(): RecentWindow {
    return this.#recent;
  }

  /** Active checks' verdict (shared by the fleet); `unchecked` without `checks.active`. */
  healthState(): HealthState {
    if (!this.health) return 'unchecked';
    const healthy = this.health.healthy();
    return healthy === undefined ? 'unknown' : healthy ? 'healthy' : 'unhealthy';
  }

  /** An attempt to this instance starts; `attemptEnded` must follow. */
  attemptStarted(now = Date.now()): void {
    this.#stats.inFlight += 1;
    this.#stats.requests += 1;
    this.#recent.attempt(now);
  }

  attemptEnded(): void {
    this.#stats.inFlight -= 1;
  }

  /**
   * Applies a settled attempt: breaker, failure counters, tokens, cost and latency. `streamed`: the
   * latency is the time to the stream's first content rather than the whole answer.
   */
  record(verdict: InstanceVerdict, usage: Usage | undefined, latencyMs: number | undefined, at: { now?: number; streamed?: boolean; costUsd?: number } = {}): void {
    const now = at.now ?? Date.now();
    const cost = at.costUsd;
    switch (verdict.kind) {
      case 'answered':
        this.breaker.onSuccess();
        break;
      case 'failed':
        this.#stats.failures += 1;
        this.#stats.lastError = { at: now, reason: verdict.reason };
        this.breaker.onFailure(verdict.reason, verdict.retryAfterSec);
        break;
      case 'not-about-instance':
        this.breaker.onAbandoned();
        break;
    }
    if (usage) {
      this.#stats.promptTokens += usage.prompt_tokens;
      this.#stats.completionTokens += usage.completion_tokens;
    }
    if (cost !== undefined) this.#stats.costUsd += cost;
    if (latencyMs !== undefined) {
      const ewma = this.#stats.latencyEwmaMs;
      this.#stats.latencyEwmaMs = ewma === undefined ? latencyMs : ewma + EWMA_WEIGHT * (latencyMs - ewma);
    }
    this.#recent.settled(now, verdict.kind === 'failed', usage?.prompt_tokens ?? 0, usage?.completion_tokens ?? 0, latencyMs, at.streamed === true, cost);
  }

  /** The request fell back from this instance to another. */
  fellBack(): void {
    this.#stats.fallbacks += 1;
  }

  /** After a reload: the counters of the same route and instance carry over (in-flight stays with the old object). */
  inheritCounters(previous: InstanceRuntime): void {
    this.#stats = { ...previous.stats, inFlight: this.#stats.inFlight };
    this.#recent = previous.recent;
  }
}
