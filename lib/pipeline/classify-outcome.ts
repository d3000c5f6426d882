import type { FallbackPolicy } from '../config/types.ts';
import type { GatewayError } from '../errors.ts';
import { UpstreamStatusError } from '../errors.ts';
import { resetInMs } from '../health/provider-quota.ts';
import { isJsonObject } from '../protocols/types.ts';

export interface Classified {
  /** Another instance may be tried (policy permitting). */
  retryable: boolean;
  /** Counts against the instance's breaker and passive health. */
  countsAsFailure: boolean;
  status: number;
  reason: string;
  /** Seconds the provider asked us to wait, if it said. */
  retryAfterSec: number | undefined;
  timedOut: boolean;
}

const MAX_REASON = 200;
const HTTP_DATE = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/**
 * `retry-after-ms` first, then `retry-after` as seconds or an HTTP date
 * (docs/protocols.md#retry-after-and-rate-limit-headers).
 */
export function retryAfterSeconds(headers: Record<string, string>, now = Date.now()): number | undefined {
  const ms = headers['retry-after-ms']?.trim();
  if (ms && /^\d+(\.\d+)?$/.test(ms)) return Math.ceil(Number(ms) / 1000);
  const value = headers['retry-after']?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value));
  // RFC 9110 IMF-fixdate only: Date.parse alone would read "-5" or "soon 2030" as dates.
  if (!HTTP_DATE.test(value)) return undefined;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}

// The provider's own words in a 429 body: OpenAI's "Please try again in 6.5s." / "in 1m12s" / "in 20ms".
const TRY_AGAIN = /try again in ((?:\d+(?:\.\d+)?(?:h|ms|m|s))+)\b/i;
const MAX_HINT_SEC = 3600;

/**
 * The wait a 429's body asks for when no header says: OpenAI's "try again in …" in `error.message`,
 * Google's `RetryInfo` (`error.details[].retryDelay`, "37s"). Seconds, rounded up; at most an hour.
 */
export function retryHintSeconds(body: Buffer): number | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  const error = isJsonObject(parsed) ? parsed['error'] : undefined;
  if (!isJsonObject(error)) return undefined;
  let ms: number | undefined;
  const message = error['message'];
  const said = typeof message === 'string' ? TRY_AGAIN.exec(message)?.[1] : undefined;
  if (said) ms = resetInMs(said, 0);
  const details = error['details'];
  if (ms === undefined && Array.isArray(details)) {
    for (const d of details) {
      const delay = isJsonObject(d) ? d['retryDelay'] : undefined;
      if (typeof delay === 'string') ms = resetInMs(delay, 0);
      if (ms !== undefined) break;
    }
  }
  return ms === undefined || ms <= 0 ? undefined : Math.min(MAX_HINT_SEC, Math.ceil(ms / 1000));
}

/** A short human reason from an upstream error body: its `error.message` (or `message`), bounded. */
export function upstreamReason(body: Buffer): string {
  let text = '';
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (isJsonObject(parsed)) {
      const error = parsed['error'];
      if (isJsonObject(error) && typeof error['message'] === 'string') text = error['message'];
      else if (typeof error === 'string') text = error;
      else if (typeof parsed['message'] === 'string') text = parsed['message'];
    }
  } catch {
    text = '';
  }
  return text.length > MAX_REASON ? `${text.slice(0, MAX_REASON)}…` : text;
}

/** The one function that decides what an attempt's failure means (docs/protocols.md#failure-signals). */
export function classifyOutcome(err: GatewayError, policy: FallbackPolicy): Classified {
  const listed = (status: number) => policy.statuses.includes(status);
  if (err instanceof UpstreamStatusError) {
    const status = err.upstreamStatus;
    const detail = upstreamReason(err.body);
    return {
      retryable: (status === 429 && policy.on429) || (status >= 500 && policy.on5xx) || listed(status),
      countsAsFailure: status === 429 || status >= 500,
      status,
      reason: detail ? `HTTP ${status}: ${detail}` : `HTTP ${status}`,
      retryAfterSec: retryAfterSeconds(err.upstreamHeaders) ?? (status === 429 ? retryHintSeconds(err.body) : undefined),
      timedOut: false,
    };
  }
  switch (err.code) {
    case 'UPSTREAM_CONNECT':
    case 'UPSTREAM_STREAM':
    case 'UPSTREAM_MALFORMED':
      return {
        retryable: policy.on5xx || listed(err.status),
        countsAsFailure: true,
        status: err.status,
        reason: err.message,
        retryAfterSec: undefined,
        timedOut: false,
      };
    case 'PROTOCOL_NOT_SUPPORTED':
      // This provider cannot express the request (after conversion); another instance may serve it.
      return {
        retryable: true,
        countsAsFailure: false,
        status: err.status,
        reason: err.message,
        retryAfterSec: undefined,
        timedOut: false,
      };
    case 'INSTANCE_SATURATED':
      // Our own `max_concurrency` queue was full for the whole timeout: another instance may have room.
      return {
        retryable: true,
        countsAsFailure: false,
        status: err.status,
        reason: err.message,
        retryAfterSec: undefined,
        timedOut: false,
      };
    case 'UPSTREAM_TIMEOUT':
      return {
        retryable: policy.on5xx || listed(504),
        countsAsFailure: true,
        status: 504,
        reason: err.message,
        retryAfterSec: undefined,
        timedOut: true,
      };
    default:
      return {
        retryable: false,
        countsAsFailure: false,
        status: err.status,
        reason: err.message,
        retryAfterSec: undefined,
        timedOut: false,
      };
  }
}
