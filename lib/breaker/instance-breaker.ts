import type { BreakerConfig } from '../config/types.ts';
import type { Logger } from '../observe/logger.ts';
import type { Clock, JsonValue, StateStore } from '../state/state-store.ts';
import { isJsonObject } from '../protocols/types.ts';

// One circuit breaker per (route, instance), whose state belongs to the fleet: the open/closed record
// lives in the state store (Redis for a fleet) and every replica reads the same one from its local
// mirror. Failures are summed across replicas in a sliding window; after the reset timeout exactly one
// replica (the holder of the trial lease) sends one trial request.
//
// Why not opossum (the stack's breaker library): it wraps a promise-returning action per process and
// owns its state and timers (its half-open transition is an internal setTimeout). Here the state is
// the fleet's, the half-open trial is gated by a Redis lease, thresholds combine a count with a
// percentage, a 429's Retry-After holds the instance out, and tests need an injected clock. Forcing
// opossum's open()/close() from the store would leave two sources of truth on every replica.

export type BreakerState = 'closed' | 'open' | 'half_open';

interface BreakerRecord {
  state: 'open' | 'closed';
  since: number;
  /** When an open breaker admits its trial request. */
  until: number;
  reason: string;
  by: string;
}

export interface BreakerSnapshot {
  state: BreakerState;
  since: number | undefined;
  until: number | undefined;
  reason: string | undefined;
  /** The replica that wrote the current record (opened or closed it). */
  by: string | undefined;
  failuresInWindow: number;
  callsInWindow: number;
}

export interface InstanceBreakerOptions {
  /** `route/instance`: names the store keys and leases. */
  key: string;
  config: BreakerConfig;
  store: StateStore;
  clock: Clock;
  log: Logger;
  /** How long a trial may take before another replica may try (the upstream timeout plus slack). */
  trialLeaseMs: number;
}

const RECORD_TTL_MS = 24 * 3600 * 1000;
const SUCCESS_FLUSH_MS = 1000;
const ACQUIRE_RETRY_MS = 250;

function asRecord(value: JsonValue | undefined): BreakerRecord | undefined {
  if (!isJsonObject(value)) return undefined;
  const { state, since, until, reason, by } = value;
  if ((state !== 'open' && state !== 'closed') || typeof since !== 'number' || typeof until !== 'number') return undefined;
  return { state, since, until, reason: typeof reason === 'string' ? reason : '', by: typeof by === 'string' ? by : '' };
}

export class InstanceBreaker {
  readonly key: string;
  #opts: InstanceBreakerOptions;
  #pending = { failures: 0, total: 0 };
  #flushTimer: unknown;
  #flushing = false;
  #window = { failures: 0, total: 0 };
  #trialOwned = false;
  #trialOwnedAt = 0;
  #trialInFlight = false;
  #acquiring: Promise<void> | undefined;
  #lastAcquireAt = -Infinity;

  constructor(opts: InstanceBreakerOptions) {
    this.#opts = opts;
    this.key = opts.key;
  }

  get #recordKey(): string {
    return `breaker:${this.key}`;
  }

  #record(): BreakerRecord | undefined {
    return asRecord(this.#opts.store.get(this.#recordKey)?.value);
  }

  state(now = this.#opts.clock.now()): BreakerState {
    const record = this.#record();
    if (!record || record.state === 'closed') return 'closed';
    return now >= record.until ? 'half_open' : 'open';
  }

  /** Hot path, synchronous: may this replica send a request to the instance now? */
  allows(): boolean {
    const state = this.state();
    if (state !== 'half_open' && this.#trialOwned && !this.#trialInFlight) this.#endTrial();
    if (state === 'closed') return true;
    if (state === 'open') return false;
    if (this.#trialOwned) {
      if (this.#trialInFlight) return false;
      // An unused lease is about to expire and another replica may take it: give it up cleanly.
      if (this.#opts.clock.now() - this.#trialOwnedAt < this.#opts.trialLeaseMs * 0.8) return true;
      this.#endTrial();
    }
    this.#tryAcquireTrial();
    return false;
  }

  /**
   * While this replica is asking for the trial lease: settles once it knows whether it got it. The
   * request that found the breaker half-open may wait for that instead of being refused.
   */
  trialDecision(): Promise<void> | undefined {
    return this.#acquiring;
  }

  /** Milliseconds until this breaker admits a request again (0 when it does now). */
  waitMs(now = this.#opts.clock.now()): number {
    const record = this.#record();
    if (!record || record.state === 'closed') return 0;
    return Math.max(0, record.until - now);
  }

  /** The balancer picked this instance: in half-open, this request is the trial. */
  onDispatch(): void {
    if (this.#trialOwned && this.state() === 'half_open') this.#trialInFlight = true;
  }

  /** The instance answered (success, or an error that is the client's fault). */
  onSuccess(): void {
    if (this.#trialInFlight) {
      this.#endTrial();
      this.#write({ state: 'closed', reason: 'trial request succeeded' });
      return;
    }
    this.#count(0);
  }

  /** A 429, 5xx, timeout, connection error or in-band stream error. */
  onFailure(reason: string, retryAfterSec?: number): void {
    const now = this.#opts.clock.now();
    if (this.#trialInFlight) {
      this.#endTrial();
      this.#open(`trial request failed: ${reason}`, now + this.#opts.config.reset_timeout_ms);
      return;
    }
    if (retryAfterSec !== undefined && retryAfterSec > 0) {
      // The provider said when to come back: keep the instance out at least that long.
      const until = now + retryAfterSec * 1000;
      if (until > (this.#record()?.until ?? 0) || this.state(now) !== 'open') {
        this.#open(`${reason}; Retry-After ${retryAfterSec}s`, until);
      }
    }
    this.#count(1);
  }

  /** The client went away during the trial: the trial did not happen, the next request retries it. */
  onAbandoned(): void {
    this.#trialInFlight = false;
  }

  snapshot(): BreakerSnapshot {
    const record = this.#record();
    return {
      state: this.state(),
      since: record?.since,
      until: record?.state === 'open' ? record.until : undefined,
      reason: record?.reason,
      by: record?.by || undefined,
      failuresInWindow: this.#window.failures,
      callsInWindow: this.#window.total,
    };
  }

  async close(): Promise<void> {
    if (this.#flushTimer !== undefined) this.#opts.clock.clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#trialOwned) await this.#opts.store.releaseLease(`trial:${this.key}`);
  }

  #count(failures: number): void {
    this.#pending.failures += failures;
    this.#pending.total += 1;
    if (failures > 0) {
      // Failures are counted at once so the fleet opens quickly; successes are batched.
      if (this.#flushTimer !== undefined) this.#opts.clock.clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
      void this.#flush();
    } else if (this.#flushTimer === undefined) {
      this.#flushTimer = this.#opts.clock.setTimeout(() => {
        this.#flushTimer = undefined;
        void this.#flush();
      }, SUCCESS_FLUSH_MS);
    }
  }

  async #flush(): Promise<void> {
    if (this.#flushing || (this.#pending.failures === 0 && this.#pending.total === 0)) return;
    this.#flushing = true;
    const { failures, total } = this.#pending;
    this.#pending = { failures: 0, total: 0 };
    // A new window per closed period: failures from before the last close do not count again.
    const epoch = this.#record()?.since ?? 0;
    try {
      const totals = await this.#opts.store.addToWindow(`breaker:${this.key}:${epoch}`, failures, total, this.#opts.config.window_ms);
      this.#window = totals;
      this.#evaluate(totals.failures, totals.total);
    } finally {
      this.#flushing = false;
      if (this.#pending.failures > 0) void this.#flush();
    }
  }

  #evaluate(failures: number, total: number): void {
    const c = this.#opts.config;
    if (this.state() !== 'closed' || failures < c.failure_threshold) return;
    // Below the volume threshold the count decides; above it the failure rate must be high too, so a
    // busy instance is not benched for a handful of errors among thousands of answers.
    if (total >= c.volume_threshold && (failures * 100) / total < c.error_threshold_percentage) return;
    this.#open(`${failures} failures in ${total} calls within ${c.window_ms} ms`, this.#opts.clock.now() + c.reset_timeout_ms);
  }

  #open(reason: string, until: number): void {
    this.#write({ state: 'open', reason, until });
  }

  #write(change: { state: 'open' | 'closed'; reason: string; until?: number }): void {
    const now = this.#opts.clock.now();
    const record: BreakerRecord = {
      state: change.state,
      since: now,
      until: change.until ?? 0,
      reason: change.reason,
      by: this.#opts.store.replicaId,
    };
    this.#window = { failures: 0, total: 0 };
    const level = change.state === 'open' ? 'warn' : 'info';
    this.#opts.log[level]({ breaker: this.key, reason: change.reason }, `breaker of ${this.key} ${change.state === 'open' ? 'opened' : 'closed'}: ${change.reason}`);
    this.#opts.store.put(this.#recordKey, { ...record }, RECORD_TTL_MS);
  }

  #tryAcquireTrial(): void {
    const now = this.#opts.clock.now();
    if (this.#acquiring || now - this.#lastAcquireAt < ACQUIRE_RETRY_MS) return;
    this.#lastAcquireAt = now;
    this.#acquiring = this.#opts.store.acquireLease(`trial:${this.key}`, this.#opts.trialLeaseMs).catch(() => false).then((owned) => {
      this.#acquiring = undefined;
      // Still half-open? Another replica may have closed or re-opened it meanwhile.
      if (owned && this.state() === 'half_open') {
        this.#trialOwned = true;
        this.#trialOwnedAt = this.#opts.clock.now();
      }
      else if (owned) void this.#opts.store.releaseLease(`trial:${this.key}`);
    });
  }

  #endTrial(): void {
    this.#trialInFlight = false;
    this.#trialOwned = false;
    void this.#opts.store.releaseLease(`trial:${this.key}`);
  }
}
