import type { FallbackPolicy } from '../config/types.ts';
import type { GatewayError } from '../errors.ts';
import { UpstreamStatusError } from '../errors.ts';
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
      retryAfterSec: retryAfterSeconds(err.upstreamHeaders),
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
