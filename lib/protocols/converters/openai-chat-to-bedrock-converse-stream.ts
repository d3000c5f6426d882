import { randomUUID } from 'node:crypto';
import type { JsonObject } from '../types.ts';
import type { ClientEvent, ConversionContext, StreamConverter, UpstreamEvent } from './converter.ts';
import { collectingStreamConverter } from './converter.ts';
import { bedrockStreamException, openaiErrorFor } from './bedrock-exceptions.ts';
import { bedrockStopToOpenai } from './bedrock-stop-reasons.ts';
import { bedrockUsageToOpenai } from './bedrock-usage.ts';
import { asObject, asString, count, parseJsonObject } from './json-narrowing.ts';

// ConverseStream events → OpenAI chat.completion.chunk objects (docs/protocols.md#converse-streams).
// Blocks are keyed by `contentBlockIndex`, never by arrival order; usage arrives in `metadata` after
// `messageStop`, so the finish chunk goes out on messageStop and the usage chunk and [DONE] wait for it.

interface ToolCall {
  /** OpenAI `tool_calls[].index`. */
  index: number;
  sentArguments: boolean;
}

export function createBedrockToOpenaiChatStream(ctx: ConversionContext): StreamConverter {
  const id = `chatcmpl-${randomUUID().replaceAll('-', '')}`;
  const created = Math.floor(Date.now() / 1000);
  const model = ctx.model ?? '';
  const tools = new Map<number, ToolCall>();
  let started = false;
  let finished = false;
  let done = false;

  const envelope = (choices: JsonObject[]): JsonObject => ({ id, object: 'chat.completion.chunk', created, model, choices });
  const chunk = (delta: JsonObject, finishReason: string | null = null): ClientEvent => ({
    data: envelope([{ index: 0, delta, logprobs: null, finish_reason: finishReason }]),
  });
  const args = (index: number, fragment: string): ClientEvent => chunk({ tool_calls: [{ index, function: { arguments: fragment } }] });

  function start(out: ClientEvent[]): void {
    if (started) return;
    started = true;
    out.push(chunk({ role: 'assistant', content: '' }));
  }

  // A call that streamed no input still needs parseable arguments for clients that JSON.parse them.
  function completeArguments(tool: ToolCall | undefined, out: ClientEvent[]): void {
    if (!tool || tool.sentArguments) return;
    tool.sentArguments = true;
    out.push(args(tool.index, '{}'));
  }

  function finish(stopReason: unknown, out: ClientEvent[]): void {
    if (finished) return;
    start(out);
    for (const tool of tools.values()) completeArguments(tool, out);
    finished = true;
    out.push(chunk({}, bedrockStopToOpenai(stopReason)));
  }

  function delta(p: JsonObject, out: ClientEvent[]): void {
    const d = asObject(p['delta']) ?? {};
    const text = asString(d['text']);
    if (text) out.push(chunk({ content: text }));
    const input = asString(asObject(d['toolUse'])?.['input']);
    const tool = tools.get(count(p['contentBlockIndex']));
    if (input && tool) {
      tool.sentArguments = true;
      out.push(args(tool.index, input));
    }
    const reasoning = asString(asObject(d['reasoningContent'])?.['text']);
    if (reasoning) out.push(chunk({ reasoning_content: reasoning }));
  }

  function onEvent(event: UpstreamEvent, out: ClientEvent[]): void {
    const exception = bedrockStreamException(event);
    if (exception) {
      // The OpenAI SDK throws on a payload with `error`; nothing may follow it.
      done = true;
      out.push({ data: { error: openaiErrorFor(exception) } });
      return;
    }
    const p = parseJsonObject(event.data) ?? {};
    switch (event.event) {
      case 'messageStart':
        return start(out);
      case 'contentBlockStart': {
        start(out);
        const use = asObject(asObject(p['start'])?.['toolUse']);
        if (!use) return;
        const index = tools.size;
        tools.set(count(p['contentBlockIndex']), { index, sentArguments: false });
        const call = { index, id: use['toolUseId'], type: 'function', function: { name: use['name'], arguments: '' } };
        out.push(chunk({ tool_calls: [call] }));
        return;
      }
      case 'contentBlockDelta':
        start(out);
        return delta(p, out);
      case 'contentBlockStop':
        return completeArguments(tools.get(count(p['contentBlockIndex'])), out);
      case 'messageStop':
        return finish(p['stopReason'], out);
      case 'metadata':
        finish(undefined, out);
        // The include_usage chunk: `choices: []` plus usage, just before [DONE].
        out.push({ data: { ...envelope([]), usage: bedrockUsageToOpenai(p['usage']) } }, { data: '[DONE]' });
        done = true;
        return;
      default:
        // Unknown event types are skipped, as the SDK does.
        return;
    }
  }

  return collectingStreamConverter(() => done, onEvent, (out) => {
    done = true;
    finish(undefined, out);
    out.push({ data: '[DONE]' });
  });
}
