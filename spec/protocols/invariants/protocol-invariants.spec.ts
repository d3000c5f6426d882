import assert from 'node:assert/strict';
import type { JsonObject } from '../../../lib/protocols/types.ts';
import type { WireProtocol } from '../../support/conversation-view.ts';
import { conversationOf } from '../../support/conversation-view.ts';
import { checkRequestBody, checkResponseBody } from '../../support/protocol-invariants.ts';
import { replyOf } from '../../support/reply-view.ts';
import { assertSameConversation, assertSameReply } from '../../support/round-trip.ts';

// The invariants that guard every converter golden case are themselves checked here: each accepts a
// well-formed sample and rejects a sample broken in exactly the way it exists to catch, with its own
// message (so a test passes only when that invariant, not an incidental one, fired).

const call = (id: string) => ({ id, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } });
const requests: Record<WireProtocol, JsonObject> = {
  'openai-chat': {
    model: 'gpt-4o',
    messages: [
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content: null, tool_calls: [call('call_1'), call('call_2')] },
      { role: 'tool', tool_call_id: 'call_1', content: '21C' },
      { role: 'tool', tool_call_id: 'call_2', content: '22C' },
      { role: 'user', content: 'Thanks' },
    ],
  },
  'anthropic-messages': {
    model: 'claude',
    max_tokens: 100,
    messages: [
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content: [{ type: 'text', text: 'Checking.' }, { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '21C' }, { type: 'text', text: 'Thanks' }] },
    ],
  },
  'bedrock-converse': {
    messages: [
      { role: 'user', content: [{ text: 'Weather?' }] },
      { role: 'assistant', content: [{ toolUse: { toolUseId: 'tooluse_1', name: 'get_weather', input: { city: 'Paris' } } }] },
      { role: 'user', content: [{ toolResult: { toolUseId: 'tooluse_1', content: [{ text: '21C' }] } }, { text: 'Thanks' }] },
    ],
    toolConfig: { tools: [{ toolSpec: { name: 'get_weather', inputSchema: { json: { type: 'object' } } } }] },
  },
  'openai-responses': {
    model: 'gpt-4o',
    input: [
      { role: 'user', content: 'Weather?' },
      { type: 'function_call', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
      { type: 'function_call_output', call_id: 'call_1', output: '21C' },
    ],
  },
  'google-genai': {
    contents: [
      { role: 'user', parts: [{ text: 'Weather?' }] },
      { role: 'model', parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }, { functionCall: { name: 'get_time', args: {} } }] },
      { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { output: '21C' } } }, { functionResponse: { name: 'get_time', response: { output: '9:00' } } }] },
    ],
  },
};

const responses: Record<WireProtocol, JsonObject> = {
  'openai-chat': {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model: 'gpt-4o',
    choices: [{ index: 0, message: { role: 'assistant', content: 'Checking.', tool_calls: [call('call_1')] }, finish_reason: 'tool_calls' }],
    usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, prompt_tokens_details: { cached_tokens: 4 } },
  },
  'anthropic-messages': {
    id: 'msg_1',
    type: 'message',
    role: 'assistant',
    model: 'claude',
    content: [{ type: 'text', text: 'Checking.' }, { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }],
    stop_reason: 'tool_use',
    stop_sequence: null,
    usage: { input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 3 },
  },
  'bedrock-converse': {
    output: { message: { role: 'assistant', content: [{ text: 'Checking.' }, { toolUse: { toolUseId: 'tooluse_1', name: 'get_weather', input: { city: 'Paris' } } }] } },
    stopReason: 'tool_use',
    usage: { inputTokens: 10, outputTokens: 5, cacheReadInputTokens: 100, totalTokens: 115 },
  },
  'openai-responses': {
    id: 'resp_1',
    object: 'response',
    status: 'completed',
    incomplete_details: null,
    output: [
      { type: 'message', id: 'msg_1', role: 'assistant', content: [{ type: 'output_text', text: 'Checking.', annotations: [] }] },
      { type: 'function_call', id: 'fc_1', call_id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
    ],
    usage: { input_tokens: 10, output_tokens: 5, total_tokens: 15 },
  },
  'google-genai': {
    candidates: [{ content: { role: 'model', parts: [{ text: 'Checking.' }, { functionCall: { id: 'fc_1', name: 'get_weather', args: { city: 'Paris' } } }] }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 5, thoughtsTokenCount: 2, totalTokenCount: 17, cachedContentTokenCount: 4 },
    modelVersion: 'gemini-2.5-flash',
    responseId: 'r1',
  },
};

/** A deep copy of `sample` changed by `change` (which edits it in place). */
function broken(sample: JsonObject, change: (body: any) => void): JsonObject {
  const copy = structuredClone(sample);
  change(copy);
  return copy;
}

type Case = [what: string, protocol: WireProtocol, change: (body: any) => void, message: RegExp];

const strict = { strict: true };
const lenient = { strict: false };

describe('request invariants', () => {
  for (const protocol of Object.keys(requests) as WireProtocol[]) {
    it(`accept a well-formed ${protocol} request, strictly and leniently`, () => {
      checkRequestBody(protocol, requests[protocol] as JsonObject, strict);
      checkRequestBody(protocol, requests[protocol] as JsonObject, lenient);
    });
  }

  const cases: Case[] = [
    ['a tool result for an id no call introduced', 'openai-chat', (b) => (b.messages[2].tool_call_id = 'call_9'), /call_9 answers no earlier tool call/],
    ['a tool result before its call', 'anthropic-messages', (b) => b.messages.splice(1, 0, b.messages.splice(2, 1)[0]), /answers no earlier tool call/],
    ['a tool result for an unknown Bedrock id', 'bedrock-converse', (b) => (b.messages[2].content[0].toolResult.toolUseId = 'x'), /x answers no earlier tool call/],
    ['a function_call_output for an unknown call', 'openai-responses', (b) => (b.input[2].call_id = 'call_9'), /call_9 answers no earlier/],
    ['a tool call with an empty id', 'openai-chat', (b) => (b.messages[1].tool_calls[0].id = ''), /a tool call without an id/],
    ['a function_call with no call_id', 'openai-responses', (b) => delete b.input[1].call_id, /a tool call without an id/],
    ['two tool calls sharing an id', 'anthropic-messages', (b) => b.messages[1].content.push({ type: 'tool_use', id: 'toolu_1', name: 'x', input: {} }), /toolu_1 used twice/],
    ['a call answered twice', 'bedrock-converse', (b) => b.messages[2].content.splice(1, 0, structuredClone(b.messages[2].content[0])), /answered twice/],
    ['a functionResponse naming no call of the turn before', 'google-genai', (b) => (b.contents[2].parts[0].functionResponse.name = 'get_news'), /answers no earlier tool call/],
    ['a Gemini part with two data', 'google-genai', (b) => (b.contents[0].parts[0].inlineData = { mimeType: 'image/png', data: '' }), /exactly one datum/],
    ['a Gemini role other than user or model', 'google-genai', (b) => (b.contents[1].role = 'assistant'), /must be user or model/],
  ];
  for (const [what, protocol, change, message] of cases) {
    it(`reject ${what} (${protocol}), even leniently`, () => {
      assert.throws(() => checkRequestBody(protocol, broken(requests[protocol] as JsonObject, change), lenient), message);
    });
  }

  const strictCases: Case[] = [
    ['tool calls whose results never come', 'openai-chat', (b) => b.messages.splice(2, 2), /must answer exactly the tool calls/],
    ['a call left unanswered among answered ones', 'openai-chat', (b) => b.messages.splice(3, 1), /must answer exactly the tool calls/],
    ['a tool result after text in its turn', 'anthropic-messages', (b) => b.messages[2].content.reverse(), /tool results come before any other content/],
    ['a tool result one turn late', 'bedrock-converse', (b) => b.messages.splice(2, 0, { role: 'user', content: [{ text: 'wait' }] }), /must answer exactly/],
    ['a conversation that ends on tool calls', 'anthropic-messages', (b) => b.messages.pop(), /tool calls with no results after them/],
    ['tool call arguments that are not JSON', 'openai-chat', (b) => (b.messages[1].tool_calls[0].function.arguments = '{"city":'), /is not JSON/],
    ['tool call arguments that are not an object', 'openai-chat', (b) => (b.messages[1].tool_calls[0].function.arguments = '[1]'), /must encode an object/],
    ['stream_options without stream', 'openai-chat', (b) => (b.stream_options = { include_usage: true }), /only valid with stream: true/],
    ['five stop sequences', 'openai-chat', (b) => (b.stop = ['a', 'b', 'c', 'd', 'e']), /at most 4 stop sequences/],
    ['a chat request without a model', 'openai-chat', (b) => delete b.model, /names its model/],
    ['an Anthropic request without max_tokens', 'anthropic-messages', (b) => delete b.max_tokens, /max_tokens must be a non-negative integer/],
    ['an empty Anthropic text block', 'anthropic-messages', (b) => (b.messages[1].content[0].text = ''), /rejects empty text blocks/],
    ['a system role inside Anthropic messages', 'anthropic-messages', (b) => b.messages.unshift({ role: 'system', content: 'x' }), /must be user or assistant/],
    ['a Bedrock block with two union members', 'bedrock-converse', (b) => (b.messages[0].content[0].image = {}), /exactly one union member/],
    ['an empty Bedrock union', 'bedrock-converse', (b) => b.messages[0].content.push({}), /exactly one union member, got none/],
    ['a model id in a Bedrock body', 'bedrock-converse', (b) => (b.model = 'anthropic.claude'), /goes in the path/],
    ['blank Bedrock text', 'bedrock-converse', (b) => (b.messages[0].content[0].text = '  '), /rejects blank text/],
    ['a Bedrock tool id with a dot', 'bedrock-converse', (b) => (b.messages[1].content[0].toolUse.toolUseId = b.messages[2].content[0].toolResult.toolUseId = 'a.b'), /Bedrock tool ids/],
    ['Bedrock tool blocks without toolConfig', 'bedrock-converse', (b) => delete b.toolConfig, /toolConfig whenever the history has tool blocks/],
    ['a model name in a Gemini body', 'google-genai', (b) => (b.model = 'gemini-2.5-flash'), /no field model/],
    ['a Gemini content without a role', 'google-genai', (b) => delete b.contents[0].role, /names its role/],
    ['a Gemini call left unanswered', 'google-genai', (b) => b.contents[2].parts.pop(), /must answer exactly the tool calls/],
  ];
  for (const [what, protocol, change, message] of strictCases) {
    it(`reject ${what} (${protocol}) in a body the gateway built`, () => {
      assert.throws(() => checkRequestBody(protocol, broken(requests[protocol] as JsonObject, change), strict), message);
    });
  }

  it('let a client send history the gateway must repair, which only a built body may not contain', () => {
    const late = broken(requests['openai-chat'] as JsonObject, (b) => b.messages.splice(2, 0, { role: 'user', content: 'wait' }));
    checkRequestBody('openai-chat', late, lenient);
    assert.throws(() => checkRequestBody('openai-chat', late, strict), /must answer exactly/);
  });
});

describe('response invariants', () => {
  for (const protocol of Object.keys(responses) as WireProtocol[]) {
    it(`accept a well-formed ${protocol} response`, () => checkResponseBody(protocol, responses[protocol] as JsonObject, strict));
  }

  const cases: Case[] = [
    ['an Anthropic stop reason in an OpenAI response', 'openai-chat', (b) => (b.choices[0].finish_reason = 'end_turn'), /"end_turn" is not a openai-chat stop reason/],
    ['a missing finish_reason', 'openai-chat', (b) => (b.choices[0].finish_reason = null), /null is not a openai-chat stop reason/],
    ['an OpenAI stop reason in an Anthropic response', 'anthropic-messages', (b) => (b.stop_reason = 'stop'), /"stop" is not a anthropic-messages stop reason/],
    ['a stop_sequence without stop_reason stop_sequence', 'anthropic-messages', (b) => (b.stop_sequence = 'END'), /stop_sequence is null unless/],
    ['stop_reason stop_sequence naming no sequence', 'anthropic-messages', (b) => (b.stop_reason = 'stop_sequence'), /names the sequence/],
    ['an Anthropic stop reason in a Bedrock response', 'bedrock-converse', (b) => (b.stopReason = 'refusal'), /"refusal" is not a bedrock-converse stop reason/],
    ['total_tokens that is not prompt + completion', 'openai-chat', (b) => (b.usage.total_tokens = 16), /total_tokens = prompt_tokens \+ completion_tokens/],
    ['a negative token count', 'openai-chat', (b) => (b.usage.prompt_tokens = -1), /prompt_tokens must be a non-negative integer/],
    ['a NaN token count', 'anthropic-messages', (b) => (b.usage.output_tokens = Number.NaN), /output_tokens must be a non-negative integer/],
    ['a fractional token count', 'openai-responses', (b) => (b.usage.input_tokens = 9.5), /input_tokens must be a non-negative integer/],
    ['more cached tokens than prompt tokens', 'openai-chat', (b) => (b.usage.prompt_tokens_details.cached_tokens = 11), /cached_tokens are part of prompt_tokens/],
    ['a Bedrock total without the cache reads', 'bedrock-converse', (b) => (b.usage.totalTokens = 15), /totalTokens = inputTokens \+ outputTokens/],
    ['a Responses total that is not input + output', 'openai-responses', (b) => (b.usage.total_tokens = 10), /total_tokens = input_tokens \+ output_tokens/],
    ['a missing Bedrock total', 'bedrock-converse', (b) => delete b.usage.totalTokens, /totalTokens must be a non-negative integer/],
    ['tool_calls with no tool calls', 'openai-chat', (b) => delete b.choices[0].message.tool_calls, /announces tool calls the response does not have/],
    ['tool_use with no tool_use block', 'anthropic-messages', (b) => b.content.pop(), /announces tool calls/],
    ['two tool calls sharing an id', 'bedrock-converse', (b) => b.output.message.content.push(structuredClone(b.output.message.content[1])), /ids must be distinct/],
    ['a tool call with an empty id', 'openai-responses', (b) => (b.output[1].call_id = ''), /a tool call without an id/],
    ['tool arguments that are not JSON', 'openai-responses', (b) => (b.output[1].arguments = '{'), /is not JSON/],
    ['an incomplete response without a reason', 'openai-responses', (b) => (b.status = 'incomplete'), /incomplete_details.reason/],
    ['an unknown status', 'openai-responses', (b) => (b.status = 'done'), /status done/],
    ['an OpenAI finish reason in a Gemini response', 'google-genai', (b) => (b.candidates[0].finishReason = 'stop'), /"stop" is not a google-genai stop reason/],
    ['a Gemini total without the thoughts', 'google-genai', (b) => (b.usageMetadata.totalTokenCount = 15), /totalTokenCount = prompt \+ candidates \+ thoughts/],
    ['more cached than prompt tokens in Gemini usage', 'google-genai', (b) => (b.usageMetadata.cachedContentTokenCount = 11), /part of promptTokenCount/],
    ['a Gemini candidate from another role', 'google-genai', (b) => (b.candidates[0].content.role = 'assistant'), /content.role is model/],
    ['Gemini functionCall args that are not an object', 'google-genai', (b) => (b.candidates[0].content.parts[1].functionCall.args = '{}'), /functionCall.args must be an object/],
    ['no candidates and no block reason', 'google-genai', (b) => (b.candidates = []), /says why/],
  ];
  for (const [what, protocol, change, message] of cases) {
    it(`reject ${what} (${protocol})`, () => {
      assert.throws(() => checkResponseBody(protocol, broken(responses[protocol] as JsonObject, change), strict), message);
    });
  }
});

describe('round-trip comparisons', () => {
  it('accept a conversation that came back whole, block boundaries aside', () => {
    const original = requests['anthropic-messages'] as JsonObject;
    const back = broken(original, (b) => (b.messages[0].content = [{ type: 'text', text: 'Weather' }, { type: 'text', text: '?' }]));
    assertSameConversation(conversationOf('anthropic-messages', back), conversationOf('anthropic-messages', original), { toolsMayShrink: false });
  });
  const cases: Case[] = [
    ['changed text', 'openai-chat', (b) => (b.messages[4].content = 'Thank you'), /turn 2 text/],
    ['a tool call whose id changed', 'anthropic-messages', (b) => (b.messages[1].content[1].id = b.messages[2].content[0].tool_use_id = 'toolu_2'), /turn 1 tool calls/],
    ['tool input that changed', 'bedrock-converse', (b) => (b.messages[1].content[0].toolUse.input = {}), /turn 1 tool calls/],
    ['a tool result that appeared on the way', 'openai-responses', (b) => b.input.pop(), /turn roles/],
    ['a lost system prompt', 'openai-chat', (b) => b.messages.unshift({ role: 'system', content: 'Be brief.' }), /system text/],
    ['a lost tool definition', 'openai-chat', (b) => (b.tools = [{ type: 'function', function: { name: 'get_weather' } }]), /tool definitions/],
  ];
  for (const [what, protocol, change, message] of cases) {
    it(`reject ${what} (${protocol})`, () => {
      // The broken body plays the original, so "lost" means the round trip did not bring it back.
      const original = broken(requests[protocol] as JsonObject, change);
      assert.throws(() => assertSameConversation(conversationOf(protocol, requests[protocol] as JsonObject), conversationOf(protocol, original), { toolsMayShrink: false }), message);
    });
  }

  it('reject an answer that lost its text, its tool call or its stop reason', () => {
    const reply = replyOf('anthropic-messages', responses['anthropic-messages'] as JsonObject);
    assertSameReply(reply, reply);
    assert.throws(() => assertSameReply({ ...reply, text: 'Checking' }, reply), /text/);
    assert.throws(() => assertSameReply({ ...reply, calls: [] }, reply), /tool calls/);
    assert.throws(() => assertSameReply({ ...reply, stop: 'stop' }, reply), /stop reason/);
  });
});
