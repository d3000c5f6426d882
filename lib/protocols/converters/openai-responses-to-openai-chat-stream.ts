import type { JsonObject } from '../types.ts';
import { isJsonObject, parseJsonObject } from '../types.ts';
import type { ClientEvent, ConversionContext, StreamConverter, UpstreamEvent } from './converter.ts';
import type { ResponseIds, ResponseStatus } from './openai-responses-to-openai-chat-response.ts';
import {
  functionCallItem,
  functionCallItemId,
  messageItemId,
  outputText,
  reasoningItem,
  reasoningItemId,
  responseEnvelope,
  responseIds,
  responsesUsageFromChat,
  statusFor,
} from './openai-responses-to-openai-chat-response.ts';

// Chat chunks → the Responses event sequence (docs/protocols.md#responses-over-chat): created,
// in_progress, then per output item added → (content part added → deltas → done) → item done, then
// completed/incomplete with the whole Response. Lifecycle events come out with the first chunk; the
// gateway holds them until the first delta (docs/architecture.md#commit-point), so an error chunk
// before any content still allows a fallback.

type PartType = 'output_text' | 'refusal';

interface MessageState {
  outputIndex: number;
  id: string;
  parts: JsonObject[];
  open: { type: PartType; text: string } | undefined;
}

interface ReasoningState {
  outputIndex: number;
  id: string;
  text: string;
}

interface CallState {
  outputIndex: number;
  id: string;
  callId: string;
  name: string;
  args: string;
}

function finalPart(part: { type: PartType; text: string }): JsonObject {
  return part.type === 'output_text' ? outputText(part.text) : { type: 'refusal', refusal: part.text };
}

function upstreamError(payload: JsonObject | undefined): { code: string | null; message: string } {
  const error = payload?.['error'] ?? payload;
  if (isJsonObject(error)) {
    const code = typeof error['code'] === 'string' ? error['code'] : typeof error['type'] === 'string' ? error['type'] : null;
    return { code, message: typeof error['message'] === 'string' ? error['message'] : 'upstream stream error' };
  }
  return { code: null, message: typeof error === 'string' ? error : 'upstream stream error' };
}

export function createChatToResponsesStream(ctx: ConversionContext): StreamConverter {
  let seq = 0;
  let out: ClientEvent[] = [];
  let head: { ids: ResponseIds; createdAt: number; model: unknown } | undefined;
  let message: MessageState | undefined;
  let messages = 0;
  let reasoning: ReasoningState | undefined;
  let reasonings = 0;
  const openCalls: CallState[] = [];
  const callsByKey = new Map<string, CallState>();
  const done: JsonObject[] = []; // finished items, by output index
  let nextIndex = 0;
  let finish: string | undefined;
  let usage: JsonObject | null = null;
  let over = false;

  const emit = (type: string, fields: JsonObject): void => {
    out.push({ event: type, data: { type, sequence_number: seq++, ...fields } });
  };
  const envelope = (status: ResponseStatus, extra: { incomplete?: JsonObject | null; error?: JsonObject } = {}): JsonObject => {
    const h = head ?? { ids: responseIds(undefined), createdAt: Math.floor(Date.now() / 1000), model: ctx.model };
    const output = status === 'in_progress' ? [] : done.filter(Boolean);
    return responseEnvelope({ ...h, status, output, usage: status === 'in_progress' ? null : usage, ...extra, request: ctx.request });
  };

  const start = (chunk: JsonObject): void => {
    const createdAt = typeof chunk['created'] === 'number' ? chunk['created'] : Math.floor(Date.now() / 1000);
    head = { ids: responseIds(chunk['id']), createdAt, model: chunk['model'] ?? ctx.model };
    emit('response.created', { response: envelope('in_progress') });
    emit('response.in_progress', { response: envelope('in_progress') });
  };

  const closePart = (m: MessageState): void => {
    const part = m.open;
    if (!part) return;
    const ref = { item_id: m.id, output_index: m.outputIndex, content_index: m.parts.length };
    const final = finalPart(part);
    if (part.type === 'output_text') emit('response.output_text.done', { ...ref, text: part.text, logprobs: [] });
    else emit('response.refusal.done', { ...ref, refusal: part.text });
    emit('response.content_part.done', { ...ref, part: final });
    m.parts.push(final);
    m.open = undefined;
  };

  const closeMessage = (): void => {
    const m = message;
    if (!m) return;
    closePart(m);
    const item = { id: m.id, type: 'message', status: 'completed', role: 'assistant', content: m.parts };
    emit('response.output_item.done', { output_index: m.outputIndex, item });
    done[m.outputIndex] = item;
    message = undefined;
  };

  const closeCall = (c: CallState): void => {
    const ref = { item_id: c.id, output_index: c.outputIndex };
    emit('response.function_call_arguments.done', { ...ref, name: c.name, arguments: c.args });
    const item = functionCallItem(c.id, c.callId, c.name, c.args, 'completed');
    emit('response.output_item.done', { output_index: c.outputIndex, item });
    done[c.outputIndex] = item;
  };

  // One summary part per reasoning item: Chat streams reasoning as one run of text.
  const closeReasoning = (): void => {
    const r = reasoning;
    if (!r) return;
    const ref = { item_id: r.id, output_index: r.outputIndex, summary_index: 0 };
    emit('response.reasoning_summary_text.done', { ...ref, text: r.text });
    emit('response.reasoning_summary_part.done', { ...ref, part: { type: 'summary_text', text: r.text } });
    const item = reasoningItem(r.id, r.text);
    emit('response.output_item.done', { output_index: r.outputIndex, item });
    done[r.outputIndex] = item;
    reasoning = undefined;
  };

  const reasoningDelta = (delta: string): void => {
    if (!head) return;
    if (!reasoning) {
      closeMessage();
      const outputIndex = nextIndex++;
      const id = reasonings++ === 0 ? reasoningItemId(head.ids) : `${reasoningItemId(head.ids)}_${outputIndex}`;
      reasoning = { outputIndex, id, text: '' };
      emit('response.output_item.added', { output_index: outputIndex, item: reasoningItem(id, '') });
      const part = { type: 'summary_text', text: '' };
      emit('response.reasoning_summary_part.added', { item_id: id, output_index: outputIndex, summary_index: 0, part });
    }
    const r = reasoning;
    r.text += delta;
    emit('response.reasoning_summary_text.delta', { item_id: r.id, output_index: r.outputIndex, summary_index: 0, delta });
  };

  const contentDelta = (type: PartType, delta: string): void => {
    if (!head) return;
    closeReasoning();
    if (!message) {
      const outputIndex = nextIndex++;
      message = { outputIndex, id: messageItemId(head.ids, outputIndex, messages++ === 0), parts: [], open: undefined };
      const item = { id: message.id, type: 'message', status: 'in_progress', role: 'assistant', content: [] };
      emit('response.output_item.added', { output_index: outputIndex, item });
    }
    const m = message;
    if (m.open?.type !== type) {
      closePart(m);
      m.open = { type, text: '' };
      const part = type === 'output_text' ? outputText('') : { type: 'refusal', refusal: '' };
      emit('response.content_part.added', { item_id: m.id, output_index: m.outputIndex, content_index: m.parts.length, part });
    }
    m.open = { type, text: (m.open?.text ?? '') + delta };
    const ref = { item_id: m.id, output_index: m.outputIndex, content_index: m.parts.length };
    if (type === 'output_text') emit('response.output_text.delta', { ...ref, delta, logprobs: [] });
    else emit('response.refusal.delta', { ...ref, delta });
  };

  // Keyed by `index`; a provider that omits it sends whole calls, each with its own id.
  const toolCallDelta = (tc: JsonObject, position: number): void => {
    if (!head) return;
    const fn = isJsonObject(tc['function']) ? tc['function'] : {};
    const id = typeof tc['id'] === 'string' && tc['id'] !== '' ? tc['id'] : undefined;
    const key = typeof tc['index'] === 'number' ? `i${tc['index']}` : id !== undefined ? `id${id}` : `p${position}`;
    let call = callsByKey.get(key);
    if (!call || (id !== undefined && id !== call.callId)) {
      closeReasoning();
      closeMessage(); // a function call item follows the text item, as OpenAI orders them
      const callId = id ?? `call_${head.ids.base}_${nextIndex}`;
      call = { outputIndex: nextIndex++, id: functionCallItemId(callId), callId, name: String(fn['name'] ?? ''), args: '' };
      callsByKey.set(key, call);
      openCalls.push(call);
      const item = functionCallItem(call.id, callId, call.name, '', 'in_progress');
      emit('response.output_item.added', { output_index: call.outputIndex, item });
    }
    const fragment = fn['arguments'];
    if (typeof fragment === 'string' && fragment !== '') {
      call.args += fragment;
      emit('response.function_call_arguments.delta', { item_id: call.id, output_index: call.outputIndex, delta: fragment });
    }
  };

  const finalize = (): void => {
    over = true;
    if (!head) return;
    // Close what is open in output order, so `output_item.done` events come in index order.
    const closers: Array<[number, () => void]> = openCalls.map((c) => [c.outputIndex, () => closeCall(c)]);
    if (message) closers.push([message.outputIndex, closeMessage]);
    if (reasoning) closers.push([reasoning.outputIndex, closeReasoning]);
    for (const [, close] of closers.sort((a, b) => a[0] - b[0])) close();
    openCalls.length = 0;
    const { status, incomplete } = statusFor(finish);
    emit(status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response: envelope(status, { incomplete }) });
  };

  // The failed Response still lists what was generated; unfinished items say so in their status.
  const fail = (payload: JsonObject | undefined): void => {
    over = true;
    if (reasoning) done[reasoning.outputIndex] = { ...reasoningItem(reasoning.id, reasoning.text), status: 'incomplete' };
    if (message) {
      const m = message;
      const parts = m.open ? [...m.parts, finalPart(m.open)] : m.parts;
      done[m.outputIndex] = { id: m.id, type: 'message', status: 'incomplete', role: 'assistant', content: parts };
    }
    for (const c of openCalls) done[c.outputIndex] = functionCallItem(c.id, c.callId, c.name, c.args, 'incomplete');
    const { code, message: text } = upstreamError(payload);
    emit('error', { code, message: text, param: null });
    emit('response.failed', { response: envelope('failed', { error: { code: 'server_error', message: text } }) });
  };

  const onChunk = (chunk: JsonObject): void => {
    if (!head) start(chunk);
    if (isJsonObject(chunk['usage'])) usage = responsesUsageFromChat(chunk['usage']);
    const choices = Array.isArray(chunk['choices']) ? chunk['choices'] : [];
    // Responses has no `n`: only the first choice is followed.
    const choice: unknown = choices.find((c: unknown) => isJsonObject(c) && (c['index'] ?? 0) === 0);
    if (!isJsonObject(choice)) return;
    const delta = choice['delta'];
    if (isJsonObject(delta)) {
      const thought = delta['reasoning_content'] ?? delta['reasoning'];
      if (typeof thought === 'string' && thought !== '') reasoningDelta(thought);
      if (typeof delta['content'] === 'string' && delta['content'] !== '') contentDelta('output_text', delta['content']);
      if (typeof delta['refusal'] === 'string' && delta['refusal'] !== '') contentDelta('refusal', delta['refusal']);
      if (Array.isArray(delta['tool_calls'])) {
        delta['tool_calls'].forEach((tc: unknown, i: number) => {
          if (isJsonObject(tc)) toolCallDelta(tc, i);
        });
      }
    }
    if (typeof choice['finish_reason'] === 'string') finish = choice['finish_reason'];
  };

  const take = (): ClientEvent[] => {
    const events = out;
    out = [];
    return events;
  };

  return {
    push(event: UpstreamEvent): ClientEvent[] {
      if (over) return [];
      if (event.data === '[DONE]') {
        finalize();
        return take();
      }
      const payload = parseJsonObject(event.data);
      if (event.event === 'error' || (payload && payload['error'] != null)) fail(payload);
      else if (payload) onChunk(payload);
      return take();
    },
    // A body that ends without finish_reason or [DONE] was cut: no terminal event, so the gateway
    // reports the truncation instead of a made-up `response.completed`.
    end(): ClientEvent[] {
      if (!over && finish !== undefined) finalize();
      over = true;
      return take();
    },
  };
}
