// In-band stream errors between Bedrock exception frames, OpenAI's error chunk and Anthropic's `error`
// event (docs/protocols.md#stream-errors).
import type { UpstreamEvent } from './converter.ts';
import { asString, parseJsonObject } from './json-narrowing.ts';

export interface StreamException {
  /** lowerCamel stream-union name, e.g. `throttlingException`, or an `error` frame's code. */
  type: string;
  message: string;
}

/** The exception an event-stream decoder surfaced as `exception:<type>` or `error:<code>`, if any. */
export function bedrockStreamException(event: UpstreamEvent): StreamException | undefined {
  const name = event.event ?? '';
  const colon = name.indexOf(':');
  const kind = colon < 0 ? '' : name.slice(0, colon);
  if (kind !== 'exception' && kind !== 'error') return undefined;
  const type = name.slice(colon + 1);
  const payload = parseJsonObject(event.data);
  // The SDK also accepts a capitalised `Message`.
  const message = asString(payload?.['message']) ?? asString(payload?.['Message']) ?? type;
  return { type, message };
}

/** OpenAI error `type` and `code` for a Bedrock exception. */
export function openaiErrorFor(e: StreamException): { message: string; type: string; param: null; code: string } {
  const lower = e.type.toLowerCase();
  let type = 'server_error';
  if (lower.startsWith('throttling') || lower.startsWith('servicequota')) type = 'rate_limit_error';
  else if (lower.startsWith('validation')) type = 'invalid_request_error';
  return { message: e.message, type, param: null, code: e.type };
}

/** Anthropic `error.type` for a Bedrock exception. */
export function anthropicErrorTypeFor(e: StreamException): string {
  const lower = e.type.toLowerCase();
  if (lower.startsWith('throttling')) return 'rate_limit_error';
  if (lower.startsWith('serviceunavailable')) return 'overloaded_error';
  if (lower.startsWith('validation')) return 'invalid_request_error';
  if (lower.startsWith('modeltimeout')) return 'timeout_error';
  return 'api_error';
}

/** Bedrock stream exception for an Anthropic `error.type`. */
export function bedrockExceptionForAnthropic(errorType: unknown): string {
  switch (errorType) {
    case 'rate_limit_error':
      return 'throttlingException';
    case 'overloaded_error':
      return 'serviceUnavailableException';
    case 'invalid_request_error':
      return 'validationException';
    case 'api_error':
      return 'internalServerException';
    default:
      return 'modelStreamErrorException';
  }
}
