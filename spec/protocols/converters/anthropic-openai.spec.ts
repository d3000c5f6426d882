import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import type { ClientEvent } from '../../../lib/protocols/converters/converter.ts';
import { isJsonObject } from '../../../lib/protocols/types.ts';
import { GatewayError } from '../../../lib/errors.ts';
import { directions, encodeAll, jsonFixtures, runStream, streamFixtures } from './anthropic-openai-support.ts';
import type { Direction } from './anthropic-openai-support.ts';

// Table-driven: every fixture under spec/fixtures/converters/anthropic-openai/ is one test. Inputs are
// deep-frozen, so a converter that mutates its input (which a fallback would then reuse) throws.

function data(e: ClientEvent): Record<string, unknown> {
  assert.ok(isJsonObject(e.data), `expected an object, got ${JSON.stringify(e.data)}`);
  return e.data;
}

/**
 * Protocol rules a golden file could get wrong too: event names, block order, one open block
 * (docs/protocols.md#anthropic-messages-stream).
 */
function checkAnthropicEvents(events: readonly ClientEvent[]): void {
  let open: number | undefined;
  let next = 0;
  let stopped = false;
  events.forEach((e, i) => {
    const d = data(e);
    assert.equal(e.event, d['type'], 'every Anthropic event is named after its payload type');
    assert.ok(!stopped, 'nothing follows message_stop or error');
    if (d['type'] === 'error') return void (stopped = true);
    if (i === 0) assert.equal(d['type'], 'message_start');
    if (d['type'] === 'content_block_start') {
      assert.equal(open, undefined, 'a block starts only when none is open');
      assert.equal(d['index'], next++);
      open = d['index'] as number;
    }
    if (d['type'] === 'content_block_delta') assert.equal(d['index'], open, 'deltas go to the open block');
    if (d['type'] === 'content_block_stop') {
      assert.equal(d['index'], open);
      open = undefined;
    }
    if (d['type'] === 'message_delta') assert.equal(open, undefined, 'blocks close before message_delta');
    if (d['type'] === 'message_stop') stopped = true;
  });
}

/**
 * One id and one created for every chunk, role first, [DONE] last, usage chunk with no choices
 * (docs/protocols.md#openai-chat-stream).
 */
function checkChatChunks(events: readonly ClientEvent[]): void {
  const chunks = events.filter((e) => e.data !== '[DONE]' && !(isJsonObject(e.data) && 'error' in e.data)).map(data);
  assert.equal(new Set(chunks.map((c) => c['id'])).size <= 1, true, 'one id');
  assert.equal(new Set(chunks.map((c) => c['created'])).size <= 1, true, 'one created');
  for (const e of events) assert.equal(e.event, undefined, 'OpenAI chat chunks have no event name');
  const first = chunks[0]?.['choices'];
  if (Array.isArray(first) && first.length > 0) assert.equal(first[0].delta.role, 'assistant');
  const done = events.findIndex((e) => e.data === '[DONE]');
  if (done >= 0) assert.equal(done, events.length - 1);
}

function describeDirection(d: Direction): void {
  describe(`${d.converter.from} client → ${d.converter.to} provider`, () => {
    describe('request', () => {
      for (const f of jsonFixtures(d.dir, 'requests')) {
        it(`${f.it} (${f.file})`, () => {
          if (f.error) {
            assert.throws(() => d.converter.request(f.input, f.ctx), (err) => err instanceof GatewayError && err.code === f.error && err.status === 400);
          } else {
            assert.deepEqual(d.converter.request(f.input, f.ctx), f.expected);
          }
        });
      }
    });

    describe('response', () => {
      for (const f of jsonFixtures(d.dir, 'responses')) {
        it(`${f.it} (${f.file})`, () => {
          const before = Math.floor(Date.now() / 1000);
          const out = d.converter.response(f.input, f.ctx);
          if (d.dir === 'openai-to-anthropic') {
            // `created` is the conversion time: Anthropic messages carry none.
            assert.ok(typeof out['created'] === 'number' && out['created'] >= before && out['created'] <= Date.now() / 1000);
            out['created'] = 0;
          }
          assert.deepEqual(out, f.expected);
        });
      }
    });

    describe('stream', () => {
      for (const f of streamFixtures(d.dir)) {
        it(`converts ${f.it} (${f.name})`, () => {
          const events = runStream(d, f.upstream);
          if (d.dir === 'anthropic-to-openai') checkAnthropicEvents(events);
          else checkChatChunks(events);
          assert.ok(existsSync(f.clientPath), `missing ${f.clientPath}`);
          assert.equal(encodeAll(d, events), readFileSync(f.clientPath, 'utf8'));
        });

        it(`gives the same output for ${f.name} split at every byte boundary, and one byte at a time`, () => {
          const whole = encodeAll(d, runStream(d, f.upstream));
          for (let at = 1; at < f.upstream.length; at++) {
            const split = encodeAll(d, runStream(d, f.upstream, [at]));
            if (split !== whole) assert.equal(split, whole, `split at byte ${at}`);
          }
          const bytes = Array.from({ length: f.upstream.length - 1 }, (_, i) => i + 1);
          assert.equal(encodeAll(d, runStream(d, f.upstream, bytes)), whole);
        });
      }
    });
  });
}

describe('anthropic-messages ↔ openai-chat converters', () => {
  for (const d of directions) describeDirection(d);
});
