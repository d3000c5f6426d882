// What an answer is charged against token limits and budgets: the provider's usage when it came, else
// an estimate (a stream cut before its usage event, a provider that reports none), logged as such so a
// limit is never silently skipped.
import type { Logger } from '../observe/logger.ts';
import type { Usage } from '../protocols/types.ts';
import type { AttemptResult } from './attempt.ts';

// A rough, well-known rule of thumb for English text in current tokenizers; only used when the
// provider said nothing.
const BYTES_PER_TOKEN = 4;

export interface Charge {
  usage: Usage;
  estimated: boolean;
  /** The estimate's cost, when the answer has none of its own. */
  costUsd?: number;
}

/** The charge for an attempt the client got (undefined for a failed attempt: failures are not charged). */
export function chargeOf(result: AttemptResult, requestBytes: number, log: Logger): Charge | undefined {
  if (result.usage) return { usage: result.usage, estimated: false };
  if (result.kind !== 'responded' || result.status >= 400) return undefined;
  const prompt = Math.ceil(requestBytes / BYTES_PER_TOKEN);
  const completion = result.text === undefined ? 0 : Math.ceil(Buffer.byteLength(result.text) / BYTES_PER_TOKEN);
  const usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  log.warn(
    { instance: result.instance, estimated_tokens: usage.total_tokens },
    `the answer from ${result.instance} carried no usage (${result.error ? 'stream cut before its usage' : 'none reported'}); limits charged an estimate of ${usage.total_tokens} tokens`,
  );
  return { usage, estimated: true };
}
