import { randomUUID } from 'node:crypto';
import { googleErrorBody } from '../google-error.ts';
import type { JsonObject } from '../types.ts';
import type { ClientEvent, ConversionContext, StreamConverter } from './converter.ts';
import { collectingStreamConverter } from './converter.ts';
import { geminiFinishReason } from './gemini-finish-reasons.ts';
import { geminiUsageFromChat } from './gemini-usage.ts';
import { asArray, asObject, asString, parseJsonObject } from './json-narrowing.ts';
import { parseToolArguments } from './tool-arguments.ts';

// OpenAI Chat chunks → Gemini stream chunks (GenerateContentResponse, one per SSE `data:`). Text and
// reasoning go out as they come; Gemini sends a function call whole in one part, so tool call deltas
// are gathered and sent with the last chunk, which carries the finishReason and the usage (as Gemini's
// own last chunk does). Chat's usage chunk comes after its finish_reason, so that chunk waits for it.

interface OpenCall {
  id: string;
  name: string;
  args: string;
}

const HTTP_FOR_TYPE: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  permission_error: 403,
  not_found_error: 404,
  rate_limit_error: 429,
  insufficient_quota: 429,
  timeout_error: 504,
  overloaded_error: 503,
};

export function createChatToGeminiStream(ctx: ConversionContext): StreamConverter {
  const responseId = randomUUID().replaceAll('-', '');
  let modelVersion = ctx.model ?? '';
  const calls: OpenCall[] = [];
  let finish: string | undefined;
  let usage: JsonObject | undefined;
  let done = false;

  const chunk = (parts: JsonObject[], extra: JsonObject = {}): ClientEvent => ({
    data: { candidates: [{ content: { role: 'model', parts }, index: 0, ...extra }], modelVersion, responseId },
  });

  function last(out: ClientEvent[]): void {
    done = true;
    const parts = calls
      .filter((c) => c !== undefined)
      .map((c) => ({ functionCall: { id: c.id || `call_${randomUUID().replaceAll('-', '').slice(0, 24)}`, name: c.name, args: parseToolArguments(c.args) } }));
    const event = chunk(parts, { finishReason: geminiFinishReason(finish) });
    if (usage) (event.data as JsonObject)['usageMetadata'] = usage;
    out.push(event);
  }

  function onChunk(payload: JsonObject, out: ClientEvent[]): void {
    const error = asObject(payload['error']);
    if (error || 'error' in payload) {
      done = true;
      const type = asString(error?.['type']) ?? '';
      out.push({ data: googleErrorBody(HTTP_FOR_TYPE[type] ?? 500, asString(error?.['message']) ?? 'upstream stream error') });
      return;
    }
    if (typeof payload['model'] === 'string' && payload['model'] !== '') modelVersion = payload['model'];
    if (payload['usage'] != null) usage = geminiUsageFromChat(payload['usage']) ?? usage;
    for (const raw of asArray(payload['choices'])) {
      const choice = asObject(raw) ?? {};
      const delta = asObject(choice['delta']) ?? {};
      const parts: JsonObject[] = [];
      const reasoning = delta['reasoning_content'] ?? delta['reasoning'];
      if (typeof reasoning === 'string' && reasoning !== '') parts.push({ text: reasoning, thought: true });
      const text = (asString(delta['content']) ?? '') + (asString(delta['refusal']) ?? '');
      if (text !== '') parts.push({ text });
      if (parts.length > 0) out.push(chunk(parts));
      for (const rawCall of asArray(delta['tool_calls'])) {
        const call = asObject(rawCall) ?? {};
        const fn = asObject(call['function']) ?? {};
        const index = typeof call['index'] === 'number' ? call['index'] : calls.length;
        const open = (calls[index] ??= { id: '', name: '', args: '' });
        if (typeof call['id'] === 'string' && call['id'] !== '') open.id = call['id'];
        if (typeof fn['name'] === 'string') open.name += fn['name'];
        if (typeof fn['arguments'] === 'string') open.args += fn['arguments'];
      }
      if (choice['finish_reason'] != null) finish = String(choice['finish_reason']);
    }
    // The usage chunk (choices: []) follows the finish_reason: now the last chunk can go.
    if (finish !== undefined && payload['usage'] != null) last(out);
  }

  return collectingStreamConverter(
    () => done,
    (event, out) => {
      if (event.data === '[DONE]') {
        if (finish !== undefined) last(out);
        return;
      }
      const payload = parseJsonObject(event.data);
      if (payload) onChunk(payload, out);
    },
    (out) => last(out),
  );
}
