import assert from 'node:assert/strict';
import type { ClientEvent } from '../../lib/protocols/converters/converter.ts';
import type { JsonObject } from '../../lib/protocols/types.ts';
import { isJsonObject } from '../../lib/protocols/types.ts';
import type { WireProtocol } from './conversation-view.ts';
import { arr, obj, parseArguments, str } from './conversation-view.ts';
import { checkStopReason, checkStreamedArguments, checkUsage } from './protocol-invariants.ts';
import type { Reply } from './reply-view.ts';
import { STOP_REASONS } from './reply-view.ts';
import { checkBedrockStream, checkResponsesStream } from './stream-invariants-converse-responses.ts';
import { checkGoogleStream } from './stream-invariants-google.ts';

// The order rules of each protocol's stream, checked on events as a client decodes them ({event, data}
// with data parsed from JSON, or the raw '[DONE]'). Each checker also returns what the stream said, so
// callers can compare it with what the provider said.

export interface StreamSummary {
  reply: Reply;
  /** How the stream ended: its protocol's proper end, or an in-band error. */
  ending: 'complete' | 'error';
}


function checkAnthropicStream(events: readonly ClientEvent[]): StreamSummary {
  const reply: Reply = { text: '', calls: [], stop: undefined };
  let started = false;
  let ending: StreamSummary['ending'] | undefined;
  let open: { index: number; type: string; args: string } | undefined;
  let next = 0;
  events.forEach((e, i) => {
    const d = obj(e.data, `event ${i}`);
    const type = str(d['type']);
    assert.equal(e.event, type, `event ${i}: every Anthropic event is named after its payload type`);
    assert.equal(ending, undefined, `event ${i} (${type}) follows the end of the stream`);
    if (type === 'ping') return;
    if (type === 'error') {
      const error = obj(d['error'], 'error.error');
      assert.ok(str(error['type']) !== '' && typeof error['message'] === 'string', 'an error event has a type and a message');
      ending = 'error';
      return;
    }
    if (type === 'message_start') {
      assert.ok(!started, 'one message_start');
      const message = obj(d['message'], 'message_start.message');
      assert.ok(str(message['id']) !== '' && message['role'] === 'assistant', 'message_start carries the message id and role');
      assert.deepEqual(message['content'], [], 'message_start has empty content');
      assert.equal(message['stop_reason'], null, 'message_start has no stop_reason yet');
      checkUsage('anthropic-messages', message['usage']);
      started = true;
      return;
    }
    assert.ok(started, `event ${i} (${type}) comes before message_start`);
    const index = d['index'];
    if (type === 'content_block_start') {
      assert.equal(open, undefined, `content_block_start ${String(index)} while block ${open?.index} is open`);
      assert.equal(index, next++, 'content blocks are numbered 0, 1, 2… in order');
      const block = obj(d['content_block'], 'content_block');
      if (block['type'] === 'tool_use') {
        assert.ok(str(block['id']) !== '' && str(block['name']) !== '', 'a tool_use block has an id and a name');
        assert.deepEqual(block['input'], {}, 'a streamed tool_use block starts with empty input');
        reply.calls.push({ id: str(block['id']), name: str(block['name']), input: {} });
      }
      open = { index: index as number, type: str(block['type']), args: '' };
    } else if (type === 'content_block_delta') {
      assert.ok(open && index === open.index, `content_block_delta for block ${String(index)}, which is not open`);
      const delta = obj(d['delta'], 'delta');
      const allowed: Record<string, string[]> = { text: ['text_delta', 'citations_delta'], tool_use: ['input_json_delta'], thinking: ['thinking_delta', 'signature_delta'] };
      assert.ok(allowed[open.type]?.includes(str(delta['type'])), `a ${String(delta['type'])} cannot go to a ${open.type} block`);
      if (delta['type'] === 'text_delta') reply.text += str(delta['text']);
      if (delta['type'] === 'input_json_delta') open.args += str(delta['partial_json']);
    } else if (type === 'content_block_stop') {
      assert.ok(open && index === open.index, `content_block_stop for block ${String(index)}, which is not open`);
      if (open.type === 'tool_use') {
        checkStreamedArguments(open.args, `tool_use block ${open.index} input`);
        (reply.calls.at(-1) as Reply['calls'][number]).input = parseArguments(open.args || '{}');
      }
      open = undefined;
    } else if (type === 'message_delta') {
      assert.equal(open, undefined, 'every block is closed before message_delta');
      const delta = obj(d['delta'], 'message_delta.delta');
      checkStopReason('anthropic-messages', delta['stop_reason']);
      if (delta['stop_reason'] !== 'stop_sequence') assert.equal(delta['stop_sequence'] ?? null, null, 'stop_sequence is null unless stop_reason is stop_sequence');
      reply.stop = STOP_REASONS['anthropic-messages'][str(delta['stop_reason'])];
      checkUsage('anthropic-messages', d['usage']);
      assert.equal(typeof obj(d['usage'], 'usage')['output_tokens'], 'number', 'message_delta.usage always has output_tokens');
    } else if (type === 'message_stop') {
      assert.ok(reply.stop !== undefined, 'message_delta with the stop reason comes before message_stop');
      ending = 'complete';
    }
  });
  assert.ok(ending, 'an Anthropic stream ends with message_stop or an error event');
  return { reply, ending };
}

interface ChatToolState {
  args: string;
}

function checkChatStream(events: readonly ClientEvent[]): StreamSummary {
  const reply: Reply = { text: '', calls: [], stop: undefined };
  let ending: StreamSummary['ending'] | undefined;
  let first: JsonObject | undefined;
  let usageSeen = false;
  const tools: ChatToolState[] = [];
  events.forEach((e, i) => {
    assert.equal(e.event, undefined, `event ${i}: OpenAI chat chunks have no event name`);
    assert.equal(ending, undefined, `event ${i} follows the end of the stream`);
    if (e.data === '[DONE]') {
      assert.ok(first, '[DONE] ends a stream that sent chunks');
      ending = 'complete';
      return;
    }
    const chunk = obj(e.data, `chunk ${i}`);
    if ('error' in chunk) {
      assert.equal(typeof obj(chunk['error'], 'error')['message'], 'string', 'an error payload has a message');
      ending = 'error';
      return;
    }
    assert.equal(chunk['object'], 'chat.completion.chunk');
    first ??= chunk;
    for (const k of ['id', 'created', 'model']) assert.equal(chunk[k], first[k], `chunk ${i}: every chunk has the same ${k}`);
    assert.ok(str(first['id']) !== '', 'chunks carry an id');
    const choices = arr(chunk['choices'], `chunk ${i}.choices`);
    if (chunk['usage'] != null) {
      assert.ok(!usageSeen, 'one usage chunk');
      assert.equal(choices.length, 0, 'the usage chunk has no choices');
      assert.ok(reply.stop !== undefined, 'the usage chunk follows the finish_reason');
      checkUsage('openai-chat', chunk['usage']);
      usageSeen = true;
    }
    if (i === 0) assert.equal(obj(obj(choices[0], 'choices[0]')['delta'], 'delta')['role'], 'assistant', 'the first chunk gives the role');
    for (const raw of choices) {
      const choice = obj(raw, `chunk ${i} choice`);
      assert.equal(choice['index'], 0, 'the gateway streams one choice');
      const delta = obj(choice['delta'], `chunk ${i} delta`);
      if (reply.stop !== undefined) assert.deepEqual(delta, {}, `chunk ${i}: nothing follows the finish_reason`);
      reply.text += str(delta['content']) + str(delta['refusal']);
      for (const [j, rawCall] of (Array.isArray(delta['tool_calls']) ? delta['tool_calls'] : []).entries()) {
        const call = obj(rawCall, `chunk ${i} tool_calls[${j}]`);
        const index = call['index'];
        assert.ok(typeof index === 'number' && index <= tools.length, `chunk ${i}: tool call index ${String(index)} skips past ${tools.length}`);
        const fn = isJsonObject(call['function']) ? call['function'] : {};
        if (index === tools.length) {
          assert.ok(str(call['id']) !== '' && call['type'] === 'function' && str(fn['name']) !== '', `chunk ${i}: the first delta of tool call ${index} has its id, type and name`);
          tools.push({ args: '' });
          reply.calls.push({ id: str(call['id']), name: str(fn['name']), input: {} });
        } else if (call['id'] !== undefined) assert.equal(call['id'], reply.calls[index]?.id, `chunk ${i}: tool call ${index} keeps its id`);
        (tools[index] as ChatToolState).args += str(fn['arguments']);
      }
      if (choice['finish_reason'] != null) {
        checkStopReason('openai-chat', choice['finish_reason']);
        reply.stop = STOP_REASONS['openai-chat'][str(choice['finish_reason'])];
        tools.forEach((t, k) => {
          checkStreamedArguments(t.args, `tool call ${k} arguments`);
          (reply.calls[k] as Reply['calls'][number]).input = parseArguments(t.args);
        });
      } else assert.ok(!('finish_reason' in choice) || choice['finish_reason'] === null, 'finish_reason is null until the end');
    }
  });
  assert.ok(ending, 'an OpenAI chat stream ends with [DONE] or an error payload');
  if (ending === 'complete') assert.ok(reply.stop !== undefined, 'a finish_reason comes before [DONE]');
  return { reply, ending };
}

/** Checks `events` against the order rules of `protocol`'s stream; an empty stream always fails. */
export function checkStream(protocol: WireProtocol, events: readonly ClientEvent[]): StreamSummary {
  assert.ok(events.length > 0, `an empty ${protocol} stream`);
  const summary =
    protocol === 'anthropic-messages'
      ? checkAnthropicStream(events)
      : protocol === 'openai-chat'
        ? checkChatStream(events)
        : protocol === 'bedrock-converse'
          ? checkBedrockStream(events)
          : protocol === 'google-genai'
            ? checkGoogleStream(events)
            : checkResponsesStream(events);
  if (summary.reply.stop === 'tool') assert.ok(summary.reply.calls.length > 0, 'the stream announces tool calls it never sent');
  return summary;
}
