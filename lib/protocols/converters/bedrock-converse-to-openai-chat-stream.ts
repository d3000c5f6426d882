import type { JsonObject } from '../types.ts';
import type { ClientEvent, ConversionContext, StreamConverter, UpstreamEvent } from './converter.ts';
import { collectingStreamConverter } from './converter.ts';
import { openaiFinishToBedrock } from './bedrock-stop-reasons.ts';
import { openaiUsageToBedrock } from './bedrock-usage.ts';
import { asArray, asObject, asString, parseJsonObject } from './json-narrowing.ts';

// OpenAI chat.completion.chunk stream → ConverseStream events (docs/protocols.md#converse-streams), one
// ClientEvent per Bedrock event with the payload object as `data`. Bedrock opens text blocks with their
// first delta and tool blocks with contentBlockStart; `messageStop` follows the finish chunk and `metadata`
// (usage) waits for OpenAI's usage chunk, which comes after it, so it goes out on [DONE].

type BlockKind = 'text' | 'reasoning' | 'tool';

export function createOpenaiChunksToBedrockStream(_ctx: ConversionContext): StreamConverter {
  let started = false;
  let stopped = false;
  let done = false;
  let open: { kind: BlockKind; index: number } | undefined;
  let nextIndex = 0;
  // OpenAI tool_calls[].index → Bedrock contentBlockIndex
  const toolBlocks = new Map<number, number>();
  let finishReason: unknown;
  let usage: unknown;

  const ev = (event: string, data: JsonObject): ClientEvent => ({ event, data });

  function start(out: ClientEvent[]): void {
    if (started) return;
    started = true;
    out.push(ev('messageStart', { role: 'assistant' }));
  }

  function close(out: ClientEvent[]): void {
    if (!open) return;
    out.push(ev('contentBlockStop', { contentBlockIndex: open.index }));
    open = undefined;
  }

  function openBlock(kind: BlockKind, out: ClientEvent[]): number {
    close(out);
    open = { kind, index: nextIndex++ };
    return open.index;
  }

  function deltaIn(kind: 'text' | 'reasoning', delta: JsonObject, out: ClientEvent[]): void {
    const index = open?.kind === kind ? open.index : openBlock(kind, out);
    out.push(ev('contentBlockDelta', { contentBlockIndex: index, delta }));
  }

  function stop(out: ClientEvent[]): void {
    if (stopped) return;
    start(out);
    close(out);
    stopped = true;
    out.push(ev('messageStop', { stopReason: openaiFinishToBedrock(finishReason) }));
  }

  function finish(out: ClientEvent[]): void {
    stop(out);
    done = true;
    out.push(ev('metadata', { usage: openaiUsageToBedrock(usage), metrics: { latencyMs: 0 } }));
  }

  function toolCall(call: JsonObject, out: ClientEvent[]): void {
    // Key on `index`, not on `id`: some providers repeat the id on every fragment.
    const key = typeof call['index'] === 'number' ? call['index'] : 0;
    const fn = asObject(call['function']) ?? {};
    let index = toolBlocks.get(key);
    if (index === undefined) {
      index = openBlock('tool', out);
      toolBlocks.set(key, index);
      out.push(ev('contentBlockStart', { contentBlockIndex: index, start: { toolUse: { toolUseId: call['id'], name: fn['name'] } } }));
    }
    const fragment = asString(fn['arguments']);
    if (fragment) out.push(ev('contentBlockDelta', { contentBlockIndex: index, delta: { toolUse: { input: fragment } } }));
  }

  function onChunk(event: UpstreamEvent, out: ClientEvent[]): void {
    if (event.data === '[DONE]') return finish(out);
    const chunk = parseJsonObject(event.data);
    if (!chunk) return;
    if (chunk['error'] !== undefined || event.event === 'error') {
      done = true;
      const message = asString(asObject(chunk['error'])?.['message']) ?? 'upstream stream error';
      out.push(ev('exception:modelStreamErrorException', { message }));
      return;
    }
    if (asObject(chunk['usage'])) usage = chunk['usage'];
    const choice = asObject(asArray(chunk['choices'])[0]);
    if (!choice) return;
    start(out);
    const delta = asObject(choice['delta']) ?? {};
    const reasoning = asString(delta['reasoning_content']);
    if (reasoning) deltaIn('reasoning', { reasoningContent: { text: reasoning } }, out);
    const text = asString(delta['content']);
    if (text) deltaIn('text', { text }, out);
    for (const call of asArray(delta['tool_calls'])) toolCall(asObject(call) ?? {}, out);
    if (choice['finish_reason'] != null) {
      finishReason = choice['finish_reason'];
      stop(out);
    }
  }

  return collectingStreamConverter(() => done, onChunk, (out) => finish(out));
}
