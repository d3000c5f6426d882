import type { AttemptSummary } from '../errors.ts';
import { AllAttemptsFailedError } from '../errors.ts';

export interface FailedAttempt extends AttemptSummary {
  retryAfterSec: number | undefined;
  timedOut: boolean;
}

/**
 * Two or more attempts failed: 429 with the smallest Retry-After when every failure was a
 * 429, 504 when every one timed out, else 502. The body lists each attempt.
 */
export function allAttemptsFailed(attempts: readonly FailedAttempt[]): AllAttemptsFailedError {
  const summaries = attempts.map(({ instance, status, reason }) => ({ instance, status, reason }));
  if (attempts.every((a) => a.status === 429)) {
    const waits = attempts.map((a) => a.retryAfterSec).filter((s): s is number => s !== undefined);
    const headers: Record<string, string> = waits.length > 0 ? { 'retry-after': String(Math.min(...waits)) } : {};
    return new AllAttemptsFailedError(429, summaries, headers);
  }
  const status = attempts.every((a) => a.timedOut) ? 504 : 502;
  return new AllAttemptsFailedError(status, summaries, {});
}
