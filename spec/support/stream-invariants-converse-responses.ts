import assert from 'node:assert/strict';
import type { ClientEvent } from '../../lib/protocols/converters/converter.ts';
import type { JsonObject } from '../../lib/protocols/types.ts';
import { arr, obj, parseArguments, str } from './conversation-view.ts';
import { BEDROCK_TOOL_ID, checkResponsesResponse, checkStopReason, checkStreamedArguments, checkUsage } from './protocol-invariants.ts';
import type { Reply } from './reply-view.ts';
import { replyOf, STOP_REASONS } from './reply-view.ts';
import type { StreamSummary } from './stream-invariants.ts';

// Order rules for Bedrock ConverseStream and OpenAI Responses streams (see stream-invariants.ts).

interface BedrockBlock {
  kind: 'toolUse' | 'text' | 'reasoningContent';
  stopped: boolean;
  args: string;
  call?: Reply['calls'][number];
}

export function checkBedrockStream(events: readonly ClientEvent[]): StreamSummary {
  const reply: Reply = { text: '', calls: [], stop: undefined };
  const blocks: BedrockBlock[] = [];
  let ending: StreamSummary['ending'] | undefined;
  let stopped = false;
  events.forEach((e, i) => {
    const type = str(e.event);
    assert.equal(ending, undefined, `event ${i} (${type}) follows the end of the stream`);
    const d = obj(e.data, `event ${i}`);
    if (type.startsWith('exception:')) {
      assert.equal(typeof d['message'], 'string', 'an exception carries a message');
      ending = 'error';
      return;
    }
    if (i === 0) assert.equal(type, 'messageStart', 'a Converse stream starts with messageStart');
    else assert.notEqual(type, 'messageStart', 'one messageStart');
    if (type === 'messageStart') return void assert.equal(d['role'], 'assistant');
    if (type === 'metadata') {
      assert.ok(stopped, 'metadata follows messageStop');
      checkUsage('bedrock-converse', d['usage']);
      ending = 'complete';
      return;
    }
    assert.ok(!stopped, `${type} after messageStop`);
    const index = d['contentBlockIndex'];
    const block = typeof index === 'number' ? blocks[index] : undefined;
    if (type === 'contentBlockStart' || (type === 'contentBlockDelta' && !block)) {
      assert.equal(index, blocks.length, `${type}: content blocks are numbered 0, 1, 2… in order`);
      assert.ok(blocks.every((b) => b.stopped), `block ${String(index)} opens while another is open`);
    }
    if (type === 'contentBlockStart') {
      const use = obj(obj(d['start'], 'start')['toolUse'], 'start.toolUse');
      assert.match(str(use['toolUseId']), BEDROCK_TOOL_ID, 'a toolUse block has a Bedrock tool id');
      assert.ok(str(use['name']) !== '', 'a toolUse block has a name');
      const call = { id: str(use['toolUseId']), name: str(use['name']), input: {} };
      reply.calls.push(call);
      blocks.push({ kind: 'toolUse', stopped: false, args: '', call });
    } else if (type === 'contentBlockDelta') {
      const delta = obj(d['delta'], 'delta');
      assert.equal(Object.keys(delta).length, 1, 'a delta sets exactly one union member');
      const kind = Object.keys(delta)[0] as BedrockBlock['kind'];
      assert.ok(['toolUse', 'text', 'reasoningContent'].includes(kind), `unknown delta ${kind}`);
      if (!block) assert.notEqual(kind, 'toolUse', 'a toolUse block opens with contentBlockStart');
      const target = block ?? (blocks[blocks.length] = { kind, stopped: false, args: '' });
      assert.ok(!target.stopped, `contentBlockDelta for block ${String(index)} after its contentBlockStop`);
      assert.equal(kind, target.kind, `a ${kind} delta cannot go to a ${target.kind} block`);
      if (kind === 'text') reply.text += str(delta['text']);
      if (kind === 'toolUse') target.args += str(obj(delta['toolUse'], 'delta.toolUse')['input']);
    } else if (type === 'contentBlockStop') {
      assert.ok(block && !block.stopped, `contentBlockStop for block ${String(index)}, which is not open`);
      block.stopped = true;
      if (block.call) {
        checkStreamedArguments(block.args, `toolUse block ${String(index)} input`);
        block.call.input = parseArguments(block.args || '{}');
      }
    } else if (type === 'messageStop') {
      assert.ok(blocks.every((b) => b.stopped), 'every block is stopped before messageStop');
      checkStopReason('bedrock-converse', d['stopReason']);
      reply.stop = STOP_REASONS['bedrock-converse'][str(d['stopReason'])];
      stopped = true;
    } else assert.fail(`unknown Converse stream event ${type}`);
  });
  assert.ok(ending, 'a Converse stream ends with metadata or an exception');
  return { reply, ending };
}

interface ResponsesItem {
  item: JsonObject;
  done: boolean;
  parts: Array<{ text: string; done: boolean }>;
  /** Reasoning summary parts, numbered by summary_index. */
  summary: Array<{ text: string; done: boolean }>;
  args: string;
}

const TERMINAL: Record<string, string> = { 'response.completed': 'completed', 'response.incomplete': 'incomplete', 'response.failed': 'failed' };
const PART_DELTAS: Record<string, string> = { 'response.output_text.delta': 'delta', 'response.refusal.delta': 'delta' };
const PART_DONES: Record<string, string> = { 'response.output_text.done': 'text', 'response.refusal.done': 'refusal' };

export function checkResponsesStream(events: readonly ClientEvent[]): StreamSummary {
  const items: ResponsesItem[] = [];
  let ending: StreamSummary['ending'] | undefined;
  let errored = false;
  let reply: Reply = { text: '', calls: [], stop: undefined };
  const itemAt = (d: JsonObject, what: string): ResponsesItem => {
    const entry = items[d['output_index'] as number];
    assert.ok(entry && !entry.done, `${what} for output ${String(d['output_index'])}, which is not open`);
    if ('item_id' in d) assert.equal(d['item_id'], entry.item['id'], `${what}: item_id matches output ${String(d['output_index'])}`);
    return entry;
  };
  events.forEach((e, i) => {
    const d = obj(e.data, `event ${i}`);
    const type = str(d['type']);
    assert.equal(e.event, type, `event ${i}: every Responses event is named after its type`);
    assert.equal(ending, undefined, `event ${i} (${type}) follows the end of the stream`);
    // The gateway's own error frame cannot know the sequence; every other event carries its position.
    if (d['sequence_number'] !== undefined) assert.equal(d['sequence_number'], i, `event ${i}: sequence_number`);
    if (errored) assert.equal(type, 'response.failed', 'only response.failed follows an error event');
    if (i === 0 && type !== 'error') assert.equal(type, 'response.created', 'a Responses stream starts with response.created');
    if (type === 'error') {
      assert.equal(typeof d['message'], 'string', 'an error event has a message');
      errored = true;
    } else if (type === 'response.created' || type === 'response.in_progress') {
      assert.equal(obj(d['response'], type)['status'], 'in_progress');
    } else if (type === 'response.output_item.added') {
      assert.equal(d['output_index'], items.length, 'output items are numbered 0, 1, 2… in order');
      const item = obj(d['item'], 'item');
      assert.ok(str(item['id']) !== '', 'an output item has an id');
      if (item['type'] === 'function_call') assert.ok(str(item['call_id']) !== '' && str(item['name']) !== '', 'a function_call item has a call_id and a name');
      items.push({ item, done: false, parts: [], summary: [], args: '' });
    } else if (type === 'response.content_part.added') {
      const entry = itemAt(d, type);
      assert.equal(d['content_index'], entry.parts.length, 'content parts are numbered 0, 1, 2… in order');
      entry.parts.push({ text: '', done: false });
    } else if (type in PART_DELTAS || type in PART_DONES || type === 'response.content_part.done') {
      const part = itemAt(d, type).parts[d['content_index'] as number];
      assert.ok(part && !part.done, `${type} for a content part that is not open`);
      if (type in PART_DELTAS) part.text += str(d['delta']);
      if (type in PART_DONES) assert.equal(d[PART_DONES[type] as string], part.text, `${type} repeats the streamed text`);
      if (type === 'response.content_part.done') part.done = true;
    } else if (type === 'response.reasoning_summary_part.added') {
      const entry = itemAt(d, type);
      assert.equal(entry.item['type'], 'reasoning', 'summary parts belong to a reasoning item');
      assert.equal(d['summary_index'], entry.summary.length, 'summary parts are numbered 0, 1, 2… in order');
      entry.summary.push({ text: '', done: false });
    } else if (type.startsWith('response.reasoning_summary_')) {
      const part = itemAt(d, type).summary[d['summary_index'] as number];
      assert.ok(part && !part.done, `${type} for a summary part that is not open`);
      if (type === 'response.reasoning_summary_text.delta') part.text += str(d['delta']);
      else if (type === 'response.reasoning_summary_text.done') assert.equal(d['text'], part.text, `${type} repeats the streamed summary`);
      else if (type === 'response.reasoning_summary_part.done') {
        assert.equal(obj(d['part'], 'part')['text'], part.text, `${type} repeats the streamed summary`);
        part.done = true;
      } else assert.fail(`unknown event ${type}`);
    } else if (type === 'response.function_call_arguments.delta') {
      itemAt(d, type).args += str(d['delta']);
    } else if (type === 'response.function_call_arguments.done') {
      const entry = itemAt(d, type);
      assert.equal(d['arguments'], entry.args, 'function_call_arguments.done repeats the streamed arguments');
      checkStreamedArguments(entry.args, `function_call ${String(entry.item['call_id'])} arguments`);
    } else if (type === 'response.output_item.done') {
      const entry = itemAt(d, type);
      assert.equal(obj(d['item'], 'item')['id'], entry.item['id'], 'output_item.done closes the item it added');
      assert.ok(entry.parts.every((p) => p.done), 'content parts close before their item');
      assert.ok(entry.summary.every((p) => p.done), 'summary parts close before their item');
      entry.done = true;
      entry.item = obj(d['item'], 'item');
    } else if (type in TERMINAL) {
      const response = obj(d['response'], type);
      assert.equal(response['status'], TERMINAL[type], `${type} carries status ${TERMINAL[type]}`);
      checkResponsesResponse(response, true);
      if (type !== 'response.failed') {
        assert.ok(items.every((x) => x.done), `every output item is done before ${type}`);
        assert.deepEqual(arr(response['output'], 'output'), items.map((x) => x.item), `${type} lists the items the stream completed`);
      }
      reply = replyOf('openai-responses', response);
      ending = type === 'response.failed' ? 'error' : 'complete';
    }
  });
  if (errored) ending ??= 'error';
  assert.ok(ending, 'a Responses stream ends with response.completed, response.incomplete, response.failed or an error');
  return { reply, ending };
}

