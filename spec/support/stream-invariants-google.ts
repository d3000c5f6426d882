import assert from 'node:assert/strict';
import type { ClientEvent } from '../../lib/protocols/converters/converter.ts';
import type { JsonObject } from '../../lib/protocols/types.ts';
import { isJsonObject } from '../../lib/protocols/types.ts';
import { arr, gField, obj, str } from './conversation-view.ts';
import { checkStopReason, checkUsage } from './protocol-invariants.ts';
import type { Reply } from './reply-view.ts';
import { STOP_REASONS } from './reply-view.ts';
import type { StreamSummary } from './stream-invariants.ts';

// A Gemini stream (`:streamGenerateContent?alt=sse`): unnamed `data:` events, each a whole
// GenerateContentResponse. There is no end marker: the chunk with the finishReason is the last one
// with content (a usage-only chunk may follow); an `{"error":…}` chunk ends a failed stream. Function
// calls come whole, one part each, with object args.

export function checkGoogleStream(events: readonly ClientEvent[]): StreamSummary {
  const reply: Reply = { text: '', calls: [], stop: undefined };
  let ending: StreamSummary['ending'] | undefined;
  let first: JsonObject | undefined;
  let finished = false;
  events.forEach((e, i) => {
    assert.equal(e.event, undefined, `event ${i}: Gemini stream events have no event name`);
    assert.equal(ending === 'error', false, `event ${i} follows the error that ended the stream`);
    const chunk = obj(e.data, `chunk ${i}`);
    if ('error' in chunk) {
      const error = obj(chunk['error'], 'error');
      assert.ok(typeof error['code'] === 'number' && error['code'] >= 400 && error['code'] < 600, 'an error chunk has an HTTP code (the SDK throws on it only then)');
      assert.equal(typeof error['message'], 'string', 'an error chunk has a message');
      assert.ok(str(error['status']) !== '', 'an error chunk has a status name');
      ending = 'error';
      return;
    }
    first ??= chunk;
    for (const k of ['responseId', 'modelVersion']) assert.equal(gField(chunk, k), gField(first, k), `chunk ${i}: every chunk has the same ${k}`);
    const usage = gField(chunk, 'usageMetadata');
    if (usage !== undefined) checkUsage('google-genai', usage);
    const candidates = arr(chunk['candidates'] ?? [], `chunk ${i}.candidates`);
    assert.ok(candidates.length <= 1, 'the gateway streams one candidate');
    const feedback = gField(chunk, 'promptFeedback');
    if (candidates.length === 0 && isJsonObject(feedback) && gField(feedback, 'blockReason') !== undefined) {
      reply.stop = 'filter';
      finished = true;
      ending = 'complete';
      return;
    }
    const candidate = candidates[0];
    if (candidate === undefined) {
      assert.ok(usage !== undefined, `chunk ${i} carries neither a candidate nor usage`);
      return;
    }
    const c = obj(candidate, `chunk ${i}.candidates[0]`);
    const content = obj(c['content'] ?? { role: 'model', parts: [] }, `chunk ${i} content`);
    const parts = arr(content['parts'] ?? [], `chunk ${i} parts`);
    if (finished) assert.equal(parts.length, 0, `chunk ${i}: content after the finishReason`);
    for (const [j, raw] of parts.entries()) {
      const part = obj(raw, `chunk ${i} part ${j}`);
      const call = gField(part, 'functionCall');
      if (isJsonObject(call)) {
        assert.ok(str(call['name']) !== '', `chunk ${i}: a functionCall has a name`);
        obj(call['args'] ?? {}, `chunk ${i}: functionCall.args`);
        reply.calls.push({ id: str(call['id']), name: str(call['name']), input: call['args'] ?? {} });
      } else if (typeof part['text'] === 'string') {
        if (part['thought'] !== true) reply.text += part['text'];
      } else assert.fail(`chunk ${i} part ${j}: a streamed part is text or a functionCall, got ${Object.keys(part).join(', ')}`);
    }
    const reason = gField(c, 'finishReason');
    if (reason != null) {
      assert.ok(!finished, 'one finishReason');
      checkStopReason('google-genai', reason);
      finished = true;
      ending = 'complete';
    }
  });
  if (finished) {
    // The last finishReason read as the reply's stop: STOP with calls stopped for them.
    const last = [...events].reverse().map((e) => (isJsonObject(e.data) && Array.isArray(e.data['candidates']) ? e.data['candidates'][0] : undefined)).find((c) => isJsonObject(c) && gField(c, 'finishReason') != null);
    if (isJsonObject(last)) {
      const reason = str(gField(last, 'finishReason'));
      reply.stop = reason === 'STOP' && reply.calls.length > 0 ? 'tool' : STOP_REASONS['google-genai'][reason];
    }
  }
  assert.ok(ending, 'a Gemini stream ends with a finishReason or an error chunk');
  return { reply, ending };
}
