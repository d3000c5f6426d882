// What a provider says about a key's quota, on every answer: OpenAI and Azure send
// `x-ratelimit-remaining-{requests,tokens}` with `x-ratelimit-reset-*` (Go durations such as `6m0s`,
// `1s`, `20ms`; Azure also whole seconds), Anthropic `anthropic-ratelimit-{requests,tokens,input-tokens,
// output-tokens}-remaining` with `-reset` as an RFC 3339 time. When one says nothing is left, the
// instance is held out until that reset, for the whole fleet through the state store, so no replica
// sends it a request that could only come back 429. (docs/protocols.md#provider-quota-headers)
import { createHash } from 'node:crypto';
import type { Logger } from '../observe/logger.ts';
import { isJsonObject } from '../protocols/types.ts';
import type { Clock, JsonValue, StateStore } from '../state/state-store.ts';

/** Nothing left until `until` (epoch ms), for the reason a log reader is told. */
export interface QuotaHold {
  until: number;
  reason: string;
}

// A reset further away than this is not believed: the instance is tried again after an hour at most.
const MAX_HOLD_MS = 3600_000;
// Azure may say 0 remaining without a reset; its windows are seconds long.
const DEFAULT_HOLD_MS = 1000;
// Holds that end within this of the current one are the same news: not written again.
const SAME_HOLD_MS = 100;

const GO_DURATION = /^(?:\d+(?:\.\d+)?(?:h|ms|us|µs|ns|m|s))+$/;
const GO_PART = /(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)/g;
const UNIT_MS: Record<string, number> = { h: 3600_000, m: 60_000, s: 1000, ms: 1, us: 1e-3, µs: 1e-3, ns: 1e-6 };
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Milliseconds until a reset header's moment: a Go duration (`6m0s`, `1.5s`, `20ms`), a number of
 * seconds, or an RFC 3339 time. Undefined when the value is none of these.
 */
export function resetInMs(value: string, now: number): number | undefined {
  const v = value.trim();
  if (GO_DURATION.test(v)) {
    let ms = 0;
    for (const [, amount, unit] of v.matchAll(GO_PART)) ms += Number(amount) * (UNIT_MS[unit ?? ''] ?? 0);
    return ms;
  }
  if (/^\d+(?:\.\d+)?$/.test(v)) return Number(v) * 1000;
  if (RFC3339.test(v)) {
    const at = Date.parse(v);
    return Number.isNaN(at) ? undefined : at - now;
  }
  return undefined;
}

/** Each limit the headers report as used up: [limit, remaining header, reset header value]. */
function exhausted(headers: Readonly<Record<string, string>>): Array<[string, string, string | undefined]> {
  const out: Array<[string, string, string | undefined]> = [];
  for (const [name, value] of Object.entries(headers)) {
    // "-1" (Azure, when a deployment reports no limit) and anything but a count is not news.
    if (value.trim() !== '0') continue;
    if (name.startsWith('x-ratelimit-remaining-')) {
      const limit = name.slice('x-ratelimit-remaining-'.length);
      out.push([limit, name, headers[`x-ratelimit-reset-${limit}`]]);
    } else if (name.startsWith('anthropic-ratelimit-') && name.endsWith('-remaining')) {
      const limit = name.slice('anthropic-ratelimit-'.length, -'-remaining'.length);
      out.push([limit, name, headers[`anthropic-ratelimit-${limit}-reset`]]);
    }
  }
  return out;
}

/**
 * The hold an answer's headers call for, or undefined when every limit has something left. Several
 * used-up limits hold until the last of their resets.
 */
export function quotaHoldFrom(headers: Readonly<Record<string, string>>, now: number): QuotaHold | undefined {
  let hold: QuotaHold | undefined;
  for (const [limit, header, reset] of exhausted(headers)) {
    const parsed = reset === undefined ? undefined : resetInMs(reset, now);
    const ms = Math.min(MAX_HOLD_MS, parsed ?? DEFAULT_HOLD_MS);
    if (ms <= 0) continue;
    const until = now + ms;
    if (!hold || until > hold.until) {
      const when = reset === undefined ? `no reset given, ${ms} ms` : `reset ${reset}`;
      hold = { until, reason: `no ${limit} left (${header}: 0, ${when})` };
    }
  }
  return hold;
}

function asHold(value: JsonValue | undefined): QuotaHold | undefined {
  if (!isJsonObject(value)) return undefined;
  const { until, reason } = value;
  return typeof until === 'number' ? { until, reason: typeof reason === 'string' ? reason : '' } : undefined;
}

/**
 * Names the quota a provider keeps: per key (its credentials at its origin) and model, as OpenAI and
 * Anthropic count. Instances of several routes with the same key and model share one hold. A hash, so
 * no credential is ever written to the store.
 */
export function quotaKeyOf(origin: string, credentials: readonly unknown[], model: string | undefined): string {
  return createHash('sha256').update(JSON.stringify([origin, credentials, model ?? ''])).digest('hex').slice(0, 32);
}

export interface ProviderQuotaOptions {
  /** From `quotaKeyOf`. */
  key: string;
  store: StateStore;
  clock: Clock;
  log: Logger;
}

/** One instance's provider quota as the fleet knows it. */
export class ProviderQuota {
  readonly #opts: ProviderQuotaOptions;
  readonly #storeKey: string;

  constructor(opts: ProviderQuotaOptions) {
    this.#opts = opts;
    this.#storeKey = `quota:${opts.key}`;
  }

  #current(): QuotaHold | undefined {
    const hold = asHold(this.#opts.store.get(this.#storeKey)?.value);
    return hold && hold.until > this.#opts.clock.now() ? hold : undefined;
  }

  /** Reads an answer's headers (any status); a used-up limit holds the instance out, fleet-wide. */
  observe(headers: Readonly<Record<string, string>>): void {
    const now = this.#opts.clock.now();
    const hold = quotaHoldFrom(headers, now);
    if (!hold) return;
    const current = this.#current();
    if (current && hold.until <= current.until + SAME_HOLD_MS) return;
    this.#opts.store.put(this.#storeKey, { until: hold.until, reason: hold.reason }, hold.until - now);
    this.#opts.log.warn({ until: new Date(hold.until).toISOString() }, `provider quota used up, ${hold.reason}: instance held out for ${hold.until - now} ms`);
  }

  /** False while the provider's last word is that nothing is left. Synchronous (the local mirror). */
  allows(): boolean {
    return this.#current() === undefined;
  }

  /** Milliseconds until the hold ends; undefined when there is none. */
  waitMs(): number | undefined {
    const hold = this.#current();
    return hold ? hold.until - this.#opts.clock.now() : undefined;
  }

  /** For /status: the hold, if any. */
  snapshot(): QuotaHold | undefined {
    return this.#current();
  }
}
