// One instance's traffic over the last minute, for the status page: twelve 5-second slots reused in a
// ring, so recording is a few increments and nothing is allocated per request. Latencies go into
// log-scale buckets (10% wide), so p50 over the whole minute costs one pass over ~140 counters at
// read time and nothing at write time.

const SLOT_MS = 5_000;
const SLOTS = 12;
/** The span the totals cover: the last 11 full slots and the current one. */
export const RECENT_WINDOW_MS = SLOT_MS * SLOTS;

const GROWTH = 1.1;
const LOG_GROWTH = Math.log(GROWTH);
// 1 ms … ~10 minutes; the last bucket takes everything slower.
const BUCKETS = Math.ceil(Math.log(600_000) / LOG_GROWTH) + 1;

function bucketOf(ms: number): number {
  if (!(ms > 1)) return 0;
  return Math.min(BUCKETS - 1, Math.ceil(Math.log(ms) / LOG_GROWTH));
}

/** The geometric middle of a bucket: the estimate is within ±5% of a sample that fell in it. */
function bucketValue(index: number): number {
  if (index === 0) return 1;
  return Math.round(GROWTH ** (index - 0.5) * 10) / 10;
}

interface Slot {
  /** Which 5-second period of the epoch the slot holds now; -1 before first use. */
  period: number;
  attempts: number;
  failures: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  /** Answers whose price was known. */
  priced: number;
  latency: Uint32Array;
  ttft: Uint32Array;
}

export interface RecentTotals {
  attempts: number;
  failures: number;
  promptTokens: number;
  completionTokens: number;
  /** USD of the answers whose price was known; undefined when none was. */
  costUsd: number | undefined;
  /** Median answer time of non-streamed attempts, ms; undefined without one. */
  latencyP50Ms: number | undefined;
  /** Median time from sending to the first content of streamed attempts, ms. */
  ttftP50Ms: number | undefined;
}

function median(counts: Uint32Array, total: number): number | undefined {
  if (total === 0) return undefined;
  const half = total / 2;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i] ?? 0;
    if (seen >= half) return bucketValue(i);
  }
  return undefined;
}

export class RecentWindow {
  #slots: Slot[] = Array.from({ length: SLOTS }, () => ({
    period: -1,
    attempts: 0,
    failures: 0,
    promptTokens: 0,
    completionTokens: 0,
    costUsd: 0,
    priced: 0,
    latency: new Uint32Array(BUCKETS),
    ttft: new Uint32Array(BUCKETS),
  }));

  #slot(now: number): Slot {
    const period = Math.floor(now / SLOT_MS);
    const slot = this.#slots[period % SLOTS] as Slot;
    if (slot.period !== period) {
      slot.period = period;
      slot.attempts = 0;
      slot.failures = 0;
      slot.promptTokens = 0;
      slot.completionTokens = 0;
      slot.costUsd = 0;
      slot.priced = 0;
      slot.latency.fill(0);
      slot.ttft.fill(0);
    }
    return slot;
  }

  attempt(now: number): void {
    this.#slot(now).attempts += 1;
  }

  /**
   * A settled attempt. `latencyMs` is the whole answer for a JSON reply and the time to first content
   * for a stream (`streamed`), so the two medians are kept apart.
   */
  settled(now: number, failed: boolean, promptTokens: number, completionTokens: number, latencyMs: number | undefined, streamed: boolean, costUsd?: number): void {
    const slot = this.#slot(now);
    if (costUsd !== undefined) {
      slot.costUsd += costUsd;
      slot.priced += 1;
    }
    if (failed) slot.failures += 1;
    slot.promptTokens += promptTokens;
    slot.completionTokens += completionTokens;
    if (latencyMs !== undefined) {
      const counts = streamed ? slot.ttft : slot.latency;
      const i = bucketOf(latencyMs);
      counts[i] = (counts[i] ?? 0) + 1;
    }
  }

  totals(now: number): RecentTotals {
    const oldest = Math.floor(now / SLOT_MS) - SLOTS + 1;
    const latency = new Uint32Array(BUCKETS);
    const ttft = new Uint32Array(BUCKETS);
    let latencyCount = 0;
    let ttftCount = 0;
    const sum = { attempts: 0, failures: 0, promptTokens: 0, completionTokens: 0 };
    let cost = 0;
    let priced = 0;
    for (const slot of this.#slots) {
      if (slot.period < oldest) continue;
      sum.attempts += slot.attempts;
      sum.failures += slot.failures;
      sum.promptTokens += slot.promptTokens;
      sum.completionTokens += slot.completionTokens;
      cost += slot.costUsd;
      priced += slot.priced;
      for (let i = 0; i < BUCKETS; i++) {
        const l = slot.latency[i] ?? 0;
        const t = slot.ttft[i] ?? 0;
        latency[i] = (latency[i] ?? 0) + l;
        ttft[i] = (ttft[i] ?? 0) + t;
        latencyCount += l;
        ttftCount += t;
      }
    }
    return { ...sum, costUsd: priced === 0 ? undefined : cost, latencyP50Ms: median(latency, latencyCount), ttftP50Ms: median(ttft, ttftCount) };
  }
}
