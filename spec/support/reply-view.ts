import type { JsonObject } from '../../lib/protocols/types.ts';
import { isJsonObject } from '../../lib/protocols/types.ts';
import type { ToolCall, WireProtocol } from './conversation-view.ts';
import { arr, chatText, obj, parseArguments, str } from './conversation-view.ts';

// Stop reasons each protocol may put on the wire (the SDKs' enums), and what each means, so a mapping
// can be checked for legality here and for meaning in round trips.
export type StopClass = 'stop' | 'length' | 'tool' | 'filter';
export const STOP_REASONS: Record<Exclude<WireProtocol, 'openai-responses'>, Record<string, StopClass>> = {
  // Gemini ends a turn of function calls with STOP.
  'google-genai': {
    STOP: 'stop',
    MAX_TOKENS: 'length',
    SAFETY: 'filter',
    RECITATION: 'filter',
    LANGUAGE: 'filter',
    BLOCKLIST: 'filter',
    PROHIBITED_CONTENT: 'filter',
    SPII: 'filter',
    IMAGE_SAFETY: 'filter',
    MALFORMED_FUNCTION_CALL: 'stop',
    OTHER: 'stop',
  },
  'openai-chat': { stop: 'stop', length: 'length', tool_calls: 'tool', function_call: 'tool', content_filter: 'filter' },
  'anthropic-messages': {
    end_turn: 'stop',
    stop_sequence: 'stop',
    pause_turn: 'stop',
    max_tokens: 'length',
    model_context_window_exceeded: 'length',
    tool_use: 'tool',
    refusal: 'filter',
  },
  'bedrock-converse': {
    end_turn: 'stop',
    stop_sequence: 'stop',
    malformed_model_output: 'stop',
    malformed_tool_use: 'stop',
    max_tokens: 'length',
    model_context_window_exceeded: 'length',
    tool_use: 'tool',
    guardrail_intervened: 'filter',
    content_filtered: 'filter',
  },
};

/** What a model answered, whatever the protocol: the text, the tool calls and why it stopped. */
export interface Reply {
  text: string;
  calls: ToolCall[];
  stop: StopClass | undefined;
}

function chatReply(body: JsonObject): Reply {
  const choice = obj(arr(body['choices'], 'choices')[0], 'choices[0]');
  const message = obj(choice['message'], 'choices[0].message');
  const calls = (Array.isArray(message['tool_calls']) ? message['tool_calls'] : []).map((c, i) => {
    const call = obj(c, `tool_calls[${i}]`);
    const fn = obj(call['function'], `tool_calls[${i}].function`);
    return { id: str(call['id']), name: str(fn['name']), input: parseArguments(fn['arguments']) };
  });
  const text = chatText(message['content']).join('') + str(message['refusal']);
  return { text, calls, stop: STOP_REASONS['openai-chat'][str(choice['finish_reason'])] };
}

function blocksReply(content: unknown[], stop: StopClass | undefined, protocol: 'anthropic-messages' | 'bedrock-converse'): Reply {
  const reply: Reply = { text: '', calls: [], stop };
  for (const [i, raw] of content.entries()) {
    const block = obj(raw, `content[${i}]`);
    if (protocol === 'anthropic-messages' && block['type'] === 'text') reply.text += str(block['text']);
    if (protocol === 'anthropic-messages' && block['type'] === 'tool_use') reply.calls.push({ id: str(block['id']), name: str(block['name']), input: block['input'] });
    if (protocol === 'bedrock-converse' && typeof block['text'] === 'string') reply.text += block['text'];
    if (protocol === 'bedrock-converse' && isJsonObject(block['toolUse'])) {
      reply.calls.push({ id: str(block['toolUse']['toolUseId']), name: str(block['toolUse']['name']), input: block['toolUse']['input'] });
    }
  }
  return reply;
}

function responsesReply(body: JsonObject): Reply {
  const reply: Reply = { text: '', calls: [], stop: undefined };
  for (const [i, raw] of arr(body['output'], 'output').entries()) {
    const item = obj(raw, `output[${i}]`);
    if (item['type'] === 'function_call') reply.calls.push({ id: str(item['call_id']), name: str(item['name']), input: parseArguments(item['arguments']) });
    if (item['type'] === 'message') for (const p of arr(item['content'], `output[${i}].content`).filter(isJsonObject)) reply.text += str(p['text']) || str(p['refusal']);
  }
  const reason = isJsonObject(body['incomplete_details']) ? body['incomplete_details']['reason'] : undefined;
  if (body['status'] === 'completed') reply.stop = reply.calls.length > 0 ? 'tool' : 'stop';
  if (body['status'] === 'incomplete') reply.stop = reason === 'content_filter' ? 'filter' : 'length';
  return reply;
}

function googleReply(body: JsonObject): Reply {
  const reply: Reply = { text: '', calls: [], stop: undefined };
  const candidate = Array.isArray(body['candidates']) ? body['candidates'][0] : undefined;
  if (!isJsonObject(candidate)) {
    const feedback = body['promptFeedback'] ?? body['prompt_feedback'];
    if (isJsonObject(feedback) && (feedback['blockReason'] ?? feedback['block_reason']) !== undefined) reply.stop = 'filter';
    return reply;
  }
  const content = isJsonObject(candidate['content']) ? candidate['content'] : {};
  for (const [i, raw] of (Array.isArray(content['parts']) ? content['parts'] : []).entries()) {
    const part = obj(raw, `candidates[0].content.parts[${i}]`);
    if (typeof part['text'] === 'string' && part['thought'] !== true) reply.text += part['text'];
    const call = part['functionCall'] ?? part['function_call'];
    if (isJsonObject(call)) reply.calls.push({ id: str(call['id']), name: str(call['name']), input: call['args'] ?? {} });
  }
  const reason = str(candidate['finishReason'] ?? candidate['finish_reason']);
  reply.stop = reason === 'STOP' && reply.calls.length > 0 ? 'tool' : STOP_REASONS['google-genai'][reason];
  return reply;
}

/** The answer a (non-streamed) response body carries. */
export function replyOf(protocol: WireProtocol, body: JsonObject): Reply {
  switch (protocol) {
    case 'openai-chat':
      return chatReply(body);
    case 'anthropic-messages':
      return blocksReply(arr(body['content'], 'content'), STOP_REASONS[protocol][str(body['stop_reason'])], protocol);
    case 'bedrock-converse': {
      const message = obj(obj(body['output'], 'output')['message'], 'output.message');
      return blocksReply(arr(message['content'], 'output.message.content'), STOP_REASONS[protocol][str(body['stopReason'])], protocol);
    }
    case 'openai-responses':
      return responsesReply(body);
    case 'google-genai':
      return googleReply(body);
  }
}
