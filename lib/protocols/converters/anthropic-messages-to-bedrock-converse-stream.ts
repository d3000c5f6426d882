import { randomUUID } from 'node:crypto';
import type { JsonObject } from '../types.ts';
import type { ClientEvent, ConversionContext, StreamConverter, UpstreamEvent } from './converter.ts';
import { collectingStreamConverter } from './converter.ts';
import { anthropicErrorTypeFor, bedrockStreamException } from './bedrock-exceptions.ts';
import { bedrockStopToAnthropic } from './bedrock-stop-reasons.ts';
import { bedrockUsageToAnthropic } from './bedrock-usage.ts';
import { asObject, asString, count, parseJsonObject } from './json-narrowing.ts';

// ConverseStream events → Anthropic stream events (docs/protocols.md#converse-streams). Bedrock opens
// text and reasoning blocks with their first delta, only tool blocks with contentBlockStart; Anthropic
// opens every block explicitly and expects one open block at a time. Usage comes in Bedrock's `metadata`,
// after `messageStop`, so message_delta and message_stop wait for it.

type BlockType = 'text' | 'tool_use' | 'thinking' | 'redacted_thinking';

export function createBedrockToAnthropicStream(ctx: ConversionContext): StreamConverter {
  const id = `msg_${randomUUID().replaceAll('-', '')}`;
  // Bedrock contentBlockIndex → Anthropic index; Bedrock numbers usually match, but never rely on it.
  const blocks = new Map<number, { index: number; type: BlockType }>();
  let open: number | undefined;
  let started = false;
  let done = false;
  let stopReason: unknown;
  let stopSequence: string | null = null;

  const ev = (event: string, data: JsonObject): ClientEvent => ({ event, data: { type: event, ...data } });

  function start(out: ClientEvent[]): void {
    if (started) return;
    started = true;
    const message = {
      id,
      type: 'message',
      role: 'assistant',
      model: ctx.model ?? '',
      content: [],
      stop_reason: null,
      stop_sequence: null,
      // Bedrock reports usage only at the end: the gateway's prompt estimate here (clients such as
      // LangChain read input tokens only from message_start), the provider's exact counts in message_delta.
      usage: { input_tokens: ctx.promptTokens?.() ?? 0, output_tokens: 0 },
    };
    out.push(ev('message_start', { message }));
  }

  function close(out: ClientEvent[]): void {
    if (open === undefined) return;
    out.push(ev('content_block_stop', { index: open }));
    open = undefined;
  }

  /** The Anthropic index of Bedrock block `bedrockIndex`, opening it as `contentBlock` if new. */
  function block(bedrockIndex: number, contentBlock: JsonObject & { type: BlockType }, out: ClientEvent[]): number {
    const known = blocks.get(bedrockIndex);
    if (known) return known.index;
    close(out);
    const index = blocks.size;
    blocks.set(bedrockIndex, { index, type: contentBlock.type });
    open = index;
    out.push(ev('content_block_start', { index, content_block: contentBlock }));
    return index;
  }

  function delta(p: JsonObject, out: ClientEvent[]): void {
    const at = count(p['contentBlockIndex']);
    const d = asObject(p['delta']) ?? {};
    const text = asString(d['text']);
    if (text !== undefined) {
      const index = block(at, { type: 'text', text: '' }, out);
      if (text !== '') out.push(ev('content_block_delta', { index, delta: { type: 'text_delta', text } }));
    }
    const input = asString(asObject(d['toolUse'])?.['input']);
    const tool = blocks.get(at);
    if (input && tool?.type === 'tool_use') {
      out.push(ev('content_block_delta', { index: tool.index, delta: { type: 'input_json_delta', partial_json: input } }));
    }
    const reasoning = asObject(d['reasoningContent']);
    if (!reasoning) return;
    if (typeof reasoning['redactedContent'] === 'string') {
      block(at, { type: 'redacted_thinking', data: reasoning['redactedContent'] }, out);
      return;
    }
    const index = block(at, { type: 'thinking', thinking: '' }, out);
    if (typeof reasoning['text'] === 'string') {
      out.push(ev('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: reasoning['text'] } }));
    }
    if (typeof reasoning['signature'] === 'string') {
      out.push(ev('content_block_delta', { index, delta: { type: 'signature_delta', signature: reasoning['signature'] } }));
    }
  }

  function finish(usage: unknown, out: ClientEvent[]): void {
    start(out);
    close(out);
    done = true;
    const reason = bedrockStopToAnthropic(stopReason);
    const stop = { stop_reason: reason, stop_sequence: reason === 'stop_sequence' ? stopSequence : null };
    out.push(ev('message_delta', { delta: stop, usage: bedrockUsageToAnthropic(usage) }), ev('message_stop', {}));
  }

  function onEvent(event: UpstreamEvent, out: ClientEvent[]): void {
    const exception = bedrockStreamException(event);
    if (exception) {
      done = true;
      out.push(ev('error', { error: { type: anthropicErrorTypeFor(exception), message: exception.message } }));
      return;
    }
    const p = parseJsonObject(event.data) ?? {};
    switch (event.event) {
      case 'messageStart':
        return start(out);
      case 'contentBlockStart': {
        start(out);
        const use = asObject(asObject(p['start'])?.['toolUse']);
        if (use) block(count(p['contentBlockIndex']), { type: 'tool_use', id: use['toolUseId'], name: use['name'], input: {} }, out);
        return;
      }
      case 'contentBlockDelta':
        start(out);
        return delta(p, out);
      case 'contentBlockStop':
        if (open !== undefined && blocks.get(count(p['contentBlockIndex']))?.index === open) close(out);
        return;
      case 'messageStop':
        stopReason = p['stopReason'];
        // Claude on Bedrock names the matched sequence in its native fields, when it does at all.
        stopSequence = asString(asObject(p['additionalModelResponseFields'])?.['stop_sequence']) ?? null;
        return close(out);
      case 'metadata':
        return finish(p['usage'], out);
      default:
        return;
    }
  }

  return collectingStreamConverter(() => done, onEvent, (out) => finish(undefined, out));
}
