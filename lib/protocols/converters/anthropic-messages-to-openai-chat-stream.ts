import { randomUUID } from 'node:crypto';
import type { JsonObject } from '../types.ts';
import { isJsonObject } from '../types.ts';
import type { AnthropicTokens } from './anthropic-chat-usage.ts';
import { anthropicUsage, tokensFromChatUsage } from './anthropic-chat-usage.ts';
import type { ClientEvent, ConversionContext, StreamConverter, UpstreamEvent } from './converter.ts';
import { stopReasonFromFinishReason } from './stop-reasons.ts';

// OpenAI Chat chunks → Anthropic stream events (docs/protocols.md#chat-stream-to-anthropic-events).
// Anthropic clients expect one content block open at a time, each with its own index.

/** The same chat id always gives the same message id, so a JSON answer and its stream agree. */
export function anthropicMessageId(chatId: unknown): string {
  if (typeof chatId !== 'string' || chatId === '') return `msg_${randomUUID().replaceAll('-', '')}`;
  if (chatId.startsWith('msg_')) return chatId;
  return `msg_${chatId.startsWith('chatcmpl-') ? chatId.slice('chatcmpl-'.length) : chatId}`;
}

type BlockKind = 'text' | 'thinking' | 'tool';

// OpenAI error `type` → Anthropic `error.type`; anything unknown is an `api_error`.
const ERROR_TYPES: Readonly<Record<string, string>> = {
  invalid_request_error: 'invalid_request_error',
  authentication_error: 'authentication_error',
  permission_error: 'permission_error',
  not_found_error: 'not_found_error',
  rate_limit_error: 'rate_limit_error',
  insufficient_quota: 'rate_limit_error',
  timeout_error: 'timeout_error',
  overloaded_error: 'overloaded_error',
};

function errorEvent(error: unknown): ClientEvent {
  const e = isJsonObject(error) ? error : {};
  let type = typeof e['type'] === 'string' ? ERROR_TYPES[e['type']] : undefined;
  // OpenRouter-style providers put the HTTP status in `code`.
  if (type === undefined && e['code'] === 429) type = 'rate_limit_error';
  if (type === undefined && (e['code'] === 529 || e['code'] === 503)) type = 'overloaded_error';
  const message = typeof e['message'] === 'string' ? e['message'] : typeof error === 'string' ? error : 'upstream error';
  return { event: 'error', data: { type: 'error', error: { type: type ?? 'api_error', message } } };
}

function parse(data: string): unknown {
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return undefined;
  }
}

export function createChatToAnthropicStream(ctx: ConversionContext): StreamConverter {
  let started = false;
  /** message_stop or an error was sent: nothing more goes out. */
  let over = false;
  let nextIndex = 0;
  let open: { kind: BlockKind; index: number } | undefined;
  // OpenAI `tool_calls[].index` → Anthropic block index.
  const toolBlocks = new Map<number, number>();
  let finish: unknown = null;
  let sawFinish = false;
  let tokens: AnthropicTokens | undefined;

  const emit = (out: ClientEvent[], type: string, fields: JsonObject): void => {
    out.push({ event: type, data: { type, ...fields } });
  };

  function start(out: ClientEvent[], chunk: JsonObject): void {
    if (started) return;
    started = true;
    const model = typeof chunk['model'] === 'string' ? chunk['model'] : (ctx.model ?? '');
    // OpenAI reports usage only at the end: message_start carries the gateway's estimate of the prompt
    // (clients such as LangChain read input tokens only here), message_delta the provider's exact counts.
    const message = {
      id: anthropicMessageId(chunk['id']),
      type: 'message',
      role: 'assistant',
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: ctx.promptTokens?.() ?? 0, output_tokens: 0 },
    };
    emit(out, 'message_start', { message });
  }

  function close(out: ClientEvent[]): void {
    if (open) emit(out, 'content_block_stop', { index: open.index });
    open = undefined;
  }

  function openBlock(out: ClientEvent[], kind: BlockKind, block: JsonObject): number {
    close(out);
    const index = nextIndex++;
    open = { kind, index };
    emit(out, 'content_block_start', { index, content_block: block });
    return index;
  }

  function text(out: ClientEvent[], kind: 'text' | 'thinking', value: string): void {
    const empty = kind === 'text' ? { type: 'text', text: '' } : { type: 'thinking', thinking: '', signature: '' };
    const index = open?.kind === kind ? open.index : openBlock(out, kind, empty);
    const delta = kind === 'text' ? { type: 'text_delta', text: value } : { type: 'thinking_delta', thinking: value };
    emit(out, 'content_block_delta', { index, delta });
  }

  function toolCalls(out: ClientEvent[], calls: unknown[]): void {
    calls.forEach((call, position) => {
      if (!isJsonObject(call)) return;
      // Key on `index` (some providers repeat `id` on every fragment); a missing index is the position.
      const key = typeof call['index'] === 'number' ? call['index'] : position;
      const fn = isJsonObject(call['function']) ? call['function'] : {};
      let index = toolBlocks.get(key);
      if (index === undefined) {
        const id = typeof call['id'] === 'string' ? call['id'] : `call_${key}`;
        const name = typeof fn['name'] === 'string' ? fn['name'] : '';
        index = openBlock(out, 'tool', { type: 'tool_use', id, name, input: {} });
        toolBlocks.set(key, index);
      }
      // A fragment for a call whose block is already closed (providers that interleave calls) still
      // goes to that call's index: the SDKs accumulate by index, and dropping it would corrupt the input.
      const args = fn['arguments'];
      if (typeof args === 'string' && args !== '') {
        emit(out, 'content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: args } });
      }
    });
  }

  function chunk(out: ClientEvent[], c: JsonObject): void {
    start(out, c);
    const fromUsage = tokensFromChatUsage(c['usage']);
    if (fromUsage) tokens = fromUsage;
    const choices = Array.isArray(c['choices']) ? c['choices'] : [];
    // n > 1 is never requested for an Anthropic client, so only the first choice exists.
    const choice = choices.find((x) => isJsonObject(x) && (x['index'] ?? 0) === 0);
    if (!isJsonObject(choice)) return;
    const delta = isJsonObject(choice['delta']) ? choice['delta'] : {};
    const reasoning = delta['reasoning_content'] ?? delta['reasoning'];
    if (typeof reasoning === 'string' && reasoning !== '') text(out, 'thinking', reasoning);
    for (const key of ['content', 'refusal']) {
      const value = delta[key];
      if (typeof value === 'string' && value !== '') text(out, 'text', value);
    }
    if (Array.isArray(delta['tool_calls'])) toolCalls(out, delta['tool_calls']);
    if (choice['finish_reason'] != null) {
      finish = choice['finish_reason'];
      sawFinish = true;
      close(out);
    }
  }

  /** The usage chunk comes after the finish chunk, so the message ends only at [DONE]. */
  function stop(out: ClientEvent[]): void {
    close(out);
    const usage = anthropicUsage(tokens ?? { input: 0, cacheCreation: 0, cacheRead: 0, output: 0 });
    const delta = { stop_reason: stopReasonFromFinishReason(finish, toolBlocks.size > 0), stop_sequence: null };
    emit(out, 'message_delta', { delta, usage });
    emit(out, 'message_stop', {});
    over = true;
  }

  return {
    push(event: UpstreamEvent): ClientEvent[] {
      if (over) return [];
      const out: ClientEvent[] = [];
      if (event.data === '[DONE]') {
        // A [DONE] with nothing before it still ends a (then empty) message properly.
        start(out, {});
        stop(out);
        return out;
      }
      const payload = parse(event.data);
      const inBand = isJsonObject(payload) ? payload['error'] : undefined;
      if (event.event === 'error' || inBand !== undefined) {
        over = true;
        return [errorEvent(inBand ?? payload ?? event.data)];
      }
      // Keep-alives and anything that is not a chunk object carry nothing for the client.
      if (isJsonObject(payload)) chunk(out, payload);
      return out;
    },
    end(): ClientEvent[] {
      // Without a finish_reason the stream was cut: the gateway reports truncation in its own way.
      if (over || !sawFinish) return [];
      const out: ClientEvent[] = [];
      stop(out);
      return out;
    },
  };
}
