import type { JsonObject } from '../types.ts';
import type { ClientEvent, ConversionContext, StreamConverter, UpstreamEvent } from './converter.ts';
import { collectingStreamConverter } from './converter.ts';
import { bedrockExceptionForAnthropic } from './bedrock-exceptions.ts';
import { anthropicStopToBedrock } from './bedrock-stop-reasons.ts';
import { anthropicUsageToBedrock } from './bedrock-usage.ts';
import { asObject, asString, count, parseJsonObject } from './json-narrowing.ts';

// Anthropic stream events → ConverseStream events (docs/protocols.md#converse-streams). Block indexes
// carry over unchanged: both number blocks by their position in the final content. Only tool blocks get
// a contentBlockStart, as on real Bedrock; messageStop and metadata go out on message_stop, once
// message_delta has given the stop reason and the final (cumulative) usage.

export function createAnthropicToBedrockStream(_ctx: ConversionContext): StreamConverter {
  let started = false;
  let done = false;
  let stopReason: unknown;
  let stopSequence: unknown;
  const usage: JsonObject = {};
  const open = new Set<number>();

  const ev = (event: string, data: JsonObject): ClientEvent => ({ event, data });
  const blockDelta = (index: number, delta: JsonObject): ClientEvent => ev('contentBlockDelta', { contentBlockIndex: index, delta });

  function start(out: ClientEvent[]): void {
    if (started) return;
    started = true;
    out.push(ev('messageStart', { role: 'assistant' }));
  }

  /** Later values win: message_delta usage is cumulative, and absent fields keep message_start's. */
  function takeUsage(u: unknown): void {
    for (const [k, v] of Object.entries(asObject(u) ?? {})) if (typeof v === 'number') usage[k] = v;
  }

  function finish(out: ClientEvent[]): void {
    start(out);
    for (const index of open) out.push(ev('contentBlockStop', { contentBlockIndex: index }));
    open.clear();
    done = true;
    const stop: JsonObject = { stopReason: anthropicStopToBedrock(stopReason) };
    // Where Claude on Bedrock names the matched sequence (its native response fields).
    if (typeof stopSequence === 'string') stop['additionalModelResponseFields'] = { stop_sequence: stopSequence };
    out.push(
      ev('messageStop', stop),
      ev('metadata', { usage: anthropicUsageToBedrock(usage), metrics: { latencyMs: 0 } }),
    );
  }

  function blockStart(p: JsonObject, out: ClientEvent[]): void {
    const index = count(p['index']);
    const block = asObject(p['content_block']) ?? {};
    open.add(index);
    if (block['type'] === 'tool_use') {
      out.push(ev('contentBlockStart', { contentBlockIndex: index, start: { toolUse: { toolUseId: block['id'], name: block['name'] } } }));
    } else if (block['type'] === 'text' && typeof block['text'] === 'string' && block['text'] !== '') {
      out.push(blockDelta(index, { text: block['text'] }));
    } else if (block['type'] === 'redacted_thinking') {
      out.push(blockDelta(index, { reasoningContent: { redactedContent: block['data'] } }));
    }
  }

  function blockDeltaOf(p: JsonObject, out: ClientEvent[]): void {
    const index = count(p['index']);
    const d = asObject(p['delta']) ?? {};
    switch (d['type']) {
      case 'text_delta':
        if (asString(d['text'])) out.push(blockDelta(index, { text: d['text'] }));
        return;
      case 'input_json_delta':
        if (asString(d['partial_json'])) out.push(blockDelta(index, { toolUse: { input: d['partial_json'] } }));
        return;
      case 'thinking_delta':
        out.push(blockDelta(index, { reasoningContent: { text: d['thinking'] } }));
        return;
      case 'signature_delta':
        out.push(blockDelta(index, { reasoningContent: { signature: d['signature'] } }));
        return;
      default:
        // citations_delta and future delta types have no ConverseStream form.
        return;
    }
  }

  function onEvent(event: UpstreamEvent, out: ClientEvent[]): void {
    const p = parseJsonObject(event.data) ?? {};
    switch (p['type'] ?? event.event) {
      case 'message_start':
        takeUsage(asObject(p['message'])?.['usage']);
        return start(out);
      case 'content_block_start':
        start(out);
        return blockStart(p, out);
      case 'content_block_delta':
        start(out);
        return blockDeltaOf(p, out);
      case 'content_block_stop': {
        const index = count(p['index']);
        if (open.delete(index)) out.push(ev('contentBlockStop', { contentBlockIndex: index }));
        return;
      }
      case 'message_delta': {
        const delta = asObject(p['delta']) ?? {};
        stopReason = delta['stop_reason'] ?? stopReason;
        stopSequence = delta['stop_sequence'] ?? stopSequence;
        return takeUsage(p['usage']);
      }
      case 'message_stop':
        return finish(out);
      case 'error': {
        done = true;
        const error = asObject(p['error']) ?? {};
        const message = asString(error['message']) ?? 'upstream stream error';
        out.push(ev(`exception:${bedrockExceptionForAnthropic(error['type'])}`, { message }));
        return;
      }
      default:
        // ping and unknown event types, which Anthropic says to ignore
        return;
    }
  }

  return collectingStreamConverter(() => done, onEvent, (out) => finish(out));
}
