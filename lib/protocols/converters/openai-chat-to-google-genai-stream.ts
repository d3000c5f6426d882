import { randomUUID } from 'node:crypto';
import { field, geminiUsage } from '../google-genai.ts';
import type { JsonObject } from '../types.ts';
import type { ClientEvent, ConversionContext, StreamConverter } from './converter.ts';
import { collectingStreamConverter } from './converter.ts';
import { finishReasonFromGemini } from './gemini-finish-reasons.ts';
import { asArray, asObject, asString, parseJsonObject } from './json-narrowing.ts';
import { chatToolCall, chatUsage } from './gemini-to-chat-parts.ts';

// Gemini stream chunks → OpenAI Chat chunks. Gemini has no end marker: the chunk with a finishReason
// is the last one with content, and each chunk's usageMetadata holds the totals so far, so the usage
// chunk and [DONE] go out when the upstream stream ends (end()), after the finish_reason.

const OPENAI_TYPE: Readonly<Record<number, string>> = { 400: 'invalid_request_error', 401: 'authentication_error', 403: 'permission_error', 404: 'not_found_error', 429: 'rate_limit_error' };

export function createGeminiToChatStream(ctx: ConversionContext): StreamConverter {
  const id = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
  const created = Math.floor(Date.now() / 1000);
  let model = ctx.model ?? '';
  let usage: JsonObject | undefined;
  let started = false;
  let finished = false;
  let calls = 0;
  let done = false;

  const chunk = (delta: JsonObject, finish: string | null = null): ClientEvent => ({
    data: { id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }] },
  });
  // Chat streams open with a role-only chunk.
  const open = (out: ClientEvent[]): void => {
    if (started) return;
    started = true;
    out.push(chunk({ role: 'assistant', content: '' }));
  };
  const emit = (out: ClientEvent[], delta: JsonObject): void => {
    open(out);
    out.push(chunk(delta));
  };

  function onChunk(payload: JsonObject, out: ClientEvent[]): void {
    const error = asObject(payload['error']);
    if (error) {
      done = true;
      const code = typeof error['code'] === 'number' ? error['code'] : 500;
      out.push({ data: { error: { message: asString(error['message']) ?? 'upstream stream error', type: OPENAI_TYPE[code] ?? 'server_error', param: null, code: asString(error['status']) ?? null } } });
      return;
    }
    // The first chunk names the model version; every chunk must repeat the first one's.
    const version = field(payload, 'modelVersion');
    if (!started && typeof version === 'string' && version !== '') model = version;
    const metadata = chatUsage(geminiUsage(field(payload, 'usageMetadata')));
    if (metadata) usage = metadata;
    if (finished) return;
    const candidate = asObject(asArray(payload['candidates'])[0]);
    for (const raw of asArray(asObject(candidate?.['content'])?.['parts'])) {
      const part = asObject(raw) ?? {};
      if (field(part, 'functionCall') !== undefined) {
        const call = chatToolCall(part);
        emit(out, { tool_calls: [{ index: calls++, ...call }] });
      } else if (typeof part['text'] === 'string' && part['text'] !== '') {
        emit(out, part['thought'] === true ? { reasoning_content: part['text'] } : { content: part['text'] });
      }
    }
    const reason = candidate ? field(candidate, 'finishReason') : undefined;
    const blocked = !candidate && field(asObject(field(payload, 'promptFeedback')) ?? {}, 'blockReason') !== undefined;
    if (reason != null || blocked) {
      open(out);
      out.push(chunk({}, blocked ? 'content_filter' : finishReasonFromGemini(reason, calls > 0)));
      finished = true;
    }
  }

  return collectingStreamConverter(
    () => done,
    (event, out) => {
      const payload = parseJsonObject(event.data);
      if (payload) onChunk(payload, out);
    },
    (out) => {
      done = true;
      if (!finished) {
        open(out);
        out.push(chunk({}, finishReasonFromGemini(undefined, calls > 0)));
      }
      if (usage) out.push({ data: { id, object: 'chat.completion.chunk', created, model, choices: [], usage } });
      out.push({ data: '[DONE]' });
    },
  );
}
