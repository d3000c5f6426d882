import { randomUUID } from 'node:crypto';
import type { JsonObject } from '../types.ts';
import { isJsonObject } from '../types.ts';
import type { AnthropicTokens } from './anthropic-chat-usage.ts';
import { chatUsage, tokensFromAnthropicUsage } from './anthropic-chat-usage.ts';
import type { ClientEvent, ConversionContext, StreamConverter, UpstreamEvent } from './converter.ts';
import { finishReasonFromStopReason } from './stop-reasons.ts';

// Anthropic stream events → OpenAI Chat chunks (docs/protocols.md#anthropic-events-to-chat-stream).

// Anthropic `error.type` → OpenAI error `type`; the Anthropic type stays in `code`.
const ERROR_TYPES: Readonly<Record<string, string>> = {
  invalid_request_error: 'invalid_request_error',
  not_found_error: 'invalid_request_error',
  request_too_large: 'invalid_request_error',
  authentication_error: 'authentication_error',
  permission_error: 'permission_error',
  rate_limit_error: 'rate_limit_error',
};

function errorChunk(payload: unknown, raw: string): ClientEvent {
  const e = isJsonObject(payload) && isJsonObject(payload['error']) ? payload['error'] : {};
  const type = typeof e['type'] === 'string' ? e['type'] : 'api_error';
  const message = typeof e['message'] === 'string' ? e['message'] : raw;
  return { data: { error: { message, type: ERROR_TYPES[type] ?? 'server_error', param: null, code: type } } };
}

function parse(data: string): unknown {
  try {
    return JSON.parse(data) as unknown;
  } catch {
    return undefined;
  }
}

interface ToolBlock {
  tool: number;
  gotArguments: boolean;
}

export function createAnthropicToChatStream(ctx: ConversionContext): StreamConverter {
  // Every chunk shares one id and created; the id is the message's once message_start names it.
  let id = `chatcmpl-${randomUUID()}`;
  let model = ctx.model ?? '';
  const created = Math.floor(Date.now() / 1000);
  let started = false;
  let over = false;
  let toolCount = 0;
  const blockToTool = new Map<number, ToolBlock>();
  let tokens: AnthropicTokens | undefined;
  let stopReason: unknown;

  const chunk = (delta: JsonObject, finish: string | null = null): ClientEvent => {
    const choice = { index: 0, delta, logprobs: null, finish_reason: finish };
    return { data: { id, object: 'chat.completion.chunk', created, model, choices: [choice] } };
  };

  function roleChunk(out: ClientEvent[]): void {
    if (started) return;
    started = true;
    out.push(chunk({ role: 'assistant', content: '' }));
  }

  function blockStart(out: ClientEvent[], index: unknown, block: unknown): void {
    if (!isJsonObject(block)) return;
    if (block['type'] === 'tool_use' && typeof index === 'number') {
      const tool = toolCount++;
      blockToTool.set(index, { tool, gotArguments: false });
      const call = { index: tool, id: block['id'], type: 'function', function: { name: block['name'], arguments: '' } };
      out.push(chunk({ tool_calls: [call] }));
    } else if (block['type'] === 'text' && typeof block['text'] === 'string' && block['text'] !== '') {
      out.push(chunk({ content: block['text'] }));
    }
  }

  function blockDelta(out: ClientEvent[], index: unknown, delta: unknown): void {
    if (!isJsonObject(delta)) return;
    const tool = typeof index === 'number' ? blockToTool.get(index) : undefined;
    switch (delta['type']) {
      case 'text_delta':
        if (typeof delta['text'] === 'string' && delta['text'] !== '') out.push(chunk({ content: delta['text'] }));
        return;
      case 'input_json_delta': {
        const fragment = delta['partial_json'];
        if (!tool || typeof fragment !== 'string' || fragment === '') return;
        tool.gotArguments = true;
        out.push(chunk({ tool_calls: [{ index: tool.tool, function: { arguments: fragment } }] }));
        return;
      }
      case 'thinking_delta':
        // No standard Chat field: DeepSeek's `reasoning_content` is the one clients read (gateway choice).
        if (typeof delta['thinking'] === 'string' && delta['thinking'] !== '') {
          out.push(chunk({ reasoning_content: delta['thinking'] }));
        }
        return;
      default:
      // signature_delta and citations_delta have no Chat form.
    }
  }

  function blockStop(out: ClientEvent[], index: unknown): void {
    const tool = typeof index === 'number' ? blockToTool.get(index) : undefined;
    // A call without parameters streams no JSON at all; "{}" lets clients JSON.parse it.
    if (tool && !tool.gotArguments) out.push(chunk({ tool_calls: [{ index: tool.tool, function: { arguments: '{}' } }] }));
  }

  /** The finish chunk, the usage chunk (choices: []), then [DONE]. */
  function finish(out: ClientEvent[]): void {
    roleChunk(out);
    out.push(chunk({}, finishReasonFromStopReason(stopReason)));
    if (tokens) {
      out.push({ data: { id, object: 'chat.completion.chunk', created, model, choices: [], usage: chatUsage(tokens) } });
    }
    out.push({ data: '[DONE]' });
    over = true;
  }

  function event(out: ClientEvent[], type: unknown, e: JsonObject): void {
    switch (type) {
      case 'message_start': {
        const message = isJsonObject(e['message']) ? e['message'] : {};
        if (typeof message['id'] === 'string') id = message['id'];
        if (typeof message['model'] === 'string') model = message['model'];
        tokens = tokensFromAnthropicUsage(message['usage']);
        roleChunk(out);
        return;
      }
      case 'content_block_start':
        roleChunk(out);
        return blockStart(out, e['index'], e['content_block']);
      case 'content_block_delta':
        roleChunk(out);
        return blockDelta(out, e['index'], e['delta']);
      case 'content_block_stop':
        return blockStop(out, e['index']);
      case 'message_delta': {
        const delta = isJsonObject(e['delta']) ? e['delta'] : {};
        if (delta['stop_reason'] != null) stopReason = delta['stop_reason'];
        // Counts are cumulative: present values overwrite.
        if (isJsonObject(e['usage'])) tokens = tokensFromAnthropicUsage(e['usage'], tokens);
        return;
      }
      case 'message_stop':
        return finish(out);
      default:
      // ping and event types added later carry nothing for a Chat client.
    }
  }

  return {
    push(ev: UpstreamEvent): ClientEvent[] {
      if (over) return [];
      const payload = parse(ev.data);
      const type = isJsonObject(payload) && typeof payload['type'] === 'string' ? payload['type'] : ev.event;
      if (type === 'error') {
        // The OpenAI SDK throws on a payload with `error`: that is how the client learns of it.
        over = true;
        return [errorChunk(payload, ev.data)];
      }
      const out: ClientEvent[] = [];
      if (isJsonObject(payload)) event(out, type, payload);
      return out;
    },
    end(): ClientEvent[] {
      // message_stop lost after a stop_reason arrived: the answer is whole, so finish it. Without a
      // stop_reason the stream was cut, and the gateway reports that itself.
      if (over || stopReason === undefined) return [];
      const out: ClientEvent[] = [];
      finish(out);
      return out;
    },
  };
}
