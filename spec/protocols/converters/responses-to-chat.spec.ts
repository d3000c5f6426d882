import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { ResponseStream } from 'openai/lib/responses/ResponseStream';
import { deepFreeze } from '../../../lib/config/normalise.ts';
import { ProtocolNotSupportedError } from '../../../lib/errors.ts';
import type { ClientEvent, ConversionContext } from '../../../lib/protocols/converters/converter.ts';
import { openaiResponsesToOpenaiChat as converter } from '../../../lib/protocols/converters/openai-responses-to-openai-chat.ts';
import { openaiResponses } from '../../../lib/protocols/openai-responses.ts';
import type { JsonObject } from '../../../lib/protocols/types.ts';
import { createSseDecoder } from '../../../lib/transport/sse-decoder.ts';
import { checkConvertedStream, decodeStream } from '../../support/converted-stream.ts';
import { checkConvertedRequest, checkConvertedResponse } from '../../support/protocol-invariants.ts';

// Table-driven from spec/fixtures/converters/responses: request/ and response/ hold {client, upstream}
// pairs; stream/ holds recorded chat SSE (`.sse`) and the Responses events expected from it (`.json`).
// Every case is also held to both protocols' rules (spec/support/), which no fixture can override.
const root = new URL('../../fixtures/converters/responses/', import.meta.url);
const read = (path: string): JsonObject => JSON.parse(readFileSync(new URL(path, root), 'utf8')) as JsonObject;
const names = (dir: string, ext: string): string[] =>
  readdirSync(new URL(dir, root)).filter((f) => f.endsWith(ext)).map((f) => f.slice(0, -ext.length)).sort();

function ctxOf(fixture: JsonObject): ConversionContext {
  const ctx = fixture['ctx'] as { model: string | null; stream: boolean };
  return { model: ctx.model ?? undefined, stream: ctx.stream };
}

/** Runs a whole recorded stream through a fresh converter, the bytes cut wherever `cuts` says. */
function convertStream(bytes: Buffer, cuts: number[], ctx: ConversionContext): ClientEvent[] {
  const decoder = createSseDecoder();
  const stream = converter.stream?.(ctx);
  assert.ok(stream);
  const out: ClientEvent[] = [];
  let from = 0;
  for (const at of [...cuts, bytes.length]) {
    for (const event of decoder.push(bytes.subarray(from, at))) out.push(...stream.push(event));
    from = at;
  }
  for (const event of decoder.end()) out.push(...stream.push(event));
  out.push(...stream.end());
  return out;
}

/** Expected values of '<any>' stand for generated ids and clocks: they only have to be present. */
function fillWildcards(expected: unknown, actual: unknown): unknown {
  if (expected === '<any>') return actual === undefined ? expected : actual;
  if (Array.isArray(expected)) return expected.map((e, i) => fillWildcards(e, Array.isArray(actual) ? actual[i] : undefined));
  if (expected && typeof expected === 'object') {
    const a = (actual && typeof actual === 'object' ? actual : {}) as Record<string, unknown>;
    return Object.fromEntries(Object.entries(expected).map(([k, v]) => [k, fillWildcards(v, a[k])]));
  }
  return expected;
}

describe('openaiResponsesToOpenaiChat request', () => {
  for (const name of names('request', '.json')) {
    const fixture = read(`request/${name}.json`);
    it(`converts ${name}: ${String(fixture['description'])}`, () => {
      const client = deepFreeze(fixture['client'] as JsonObject);
      const upstream = converter.request(client, ctxOf(fixture));
      checkConvertedRequest(converter, client, upstream);
      assert.deepEqual(upstream, fixture['upstream']);
    });
  }

  const refused: Array<[string, JsonObject]> = [
    ['previous_response_id (chat is stateless)', { input: 'hi', previous_response_id: 'resp_1' }],
    ['a stored conversation', { input: 'hi', conversation: 'conv_1' }],
    ['a built-in web_search tool', { input: 'hi', tools: [{ type: 'web_search' }] }],
    ['an image given by file_id', { input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file_1' }] }] }],
    ['an item_reference', { input: [{ type: 'item_reference', id: 'msg_1' }] }],
    ['a tool_choice naming a built-in tool', { input: 'hi', tool_choice: { type: 'file_search' } }],
    ['an unknown message role', { input: [{ role: 'critic', content: 'x' }] }],
  ];
  for (const [what, body] of refused) {
    it(`refuses ${what} with a 400 ProtocolNotSupportedError`, () => {
      assert.throws(
        () => converter.request(deepFreeze(body), { model: 'm', stream: false }),
        (err: unknown) => err instanceof ProtocolNotSupportedError && err.status === 400,
      );
    });
  }
});

describe('openaiResponsesToOpenaiChat response', () => {
  for (const name of names('response', '.json')) {
    const fixture = read(`response/${name}.json`);
    it(`converts ${name}: ${String(fixture['description'])}`, () => {
      const upstream = deepFreeze(fixture['upstream'] as JsonObject);
      const converted = converter.response(upstream, ctxOf(fixture));
      checkConvertedResponse(converter, upstream, converted);
      assert.deepEqual(converted, fixture['client']);
      assert.equal(openaiResponses.textFromJson(converted), openaiResponses.textFromJson(fixture['client']));
    });
  }

  it('fails loudly on a 2xx body that is not a chat completion', () => {
    assert.throws(() => converter.response({ object: 'list' }, { model: 'm', stream: false }), { code: 'UPSTREAM_MALFORMED', status: 502 });
  });
});

describe('openaiResponsesToOpenaiChat stream', () => {
  for (const name of names('stream', '.sse')) {
    const fixture = read(`stream/${name}.json`);
    const bytes = readFileSync(new URL(`stream/${name}.sse`, root));
    const ctx = ctxOf(fixture);
    const whole = convertStream(bytes, [], ctx);

    it(`converts ${name}: ${String(fixture['description'])}`, () => {
      checkConvertedStream(converter, ctx, decodeStream('openai-chat', bytes));
      assert.deepEqual(whole, fillWildcards(fixture['events'], whole));
    });

    it(`converts ${name} identically when the bytes are split at every boundary, or fed one at a time`, () => {
      const matches = (events: ClientEvent[], why: string) => assert.deepEqual(events, fillWildcards(fixture['events'], events), why);
      for (let at = 1; at < bytes.length; at++) matches(convertStream(bytes, [at], ctx), `split at byte ${at}`);
      matches(convertStream(bytes, Array.from({ length: bytes.length - 1 }, (_, i) => i + 1), ctx), 'one byte at a time');
    });

    it(`numbers ${name}'s events 0, 1, 2… and names each event after its type`, () => {
      assert.ok(whole.length > 0, 'the converter emitted events');
      whole.forEach((e, i) => {
        const data = e.data as JsonObject;
        assert.equal(data['sequence_number'], i);
        assert.equal(e.event, data['type']);
      });
    });
  }

  it('holds lifecycle events until the first delta, so an error first is a fallback and an error later ends the stream', () => {
    const classes = (name: string) => {
      const observer = openaiResponses.createStreamObserver(false);
      const events = convertStream(readFileSync(new URL(`stream/${name}.sse`, root)), [], { model: 'm', stream: true });
      const decoded = createSseDecoder().push(Buffer.from(events.map((e) => openaiResponses.encodeEvent(e)).join('')));
      return { list: decoded.map((e) => observer.classify(e)), observer };
    };
    const text = classes('text');
    assert.deepEqual(text.list.slice(0, 5), ['lifecycle', 'lifecycle', 'lifecycle', 'lifecycle', 'content']);
    assert.equal(text.list.at(-1), 'done');
    assert.equal(text.observer.finished(), true);
    assert.deepEqual(text.observer.usage(), { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13, cached_tokens: 8, reasoning_tokens: 0 });
    assert.equal(classes('error-first').list[0], 'error');
    const late = classes('error-after-content');
    assert.deepEqual(late.list.slice(-3), ['content', 'error', 'error']);
    assert.equal(classes('cut').observer.finished(), false);
  });

  for (const name of ['text', 'tool-calls', 'length-no-done', 'whole-tool-calls-no-index', 'refusal']) {
    it(`produces a ${name} stream that openai-node's ResponseStream accumulates into the terminal Response`, async () => {
      const events = convertStream(readFileSync(new URL(`stream/${name}.sse`, root)), [], { model: 'm', stream: true });
      const lines = events.map((e) => `${JSON.stringify(e.data)}\n`).join('');
      const runner = ResponseStream.fromReadableStream(new Blob([lines]).stream());
      const final = await runner.finalResponse();
      const terminal = (events.at(-1)?.data as JsonObject)['response'] as JsonObject;
      // The SDK adds `parsed` / `parsed_arguments` for structured outputs; the wire items are the rest.
      const wire = JSON.parse(JSON.stringify(final.output, (k, v: unknown) => (k === 'parsed' || k === 'parsed_arguments' ? undefined : v)));
      assert.deepEqual(wire, terminal['output']);
      assert.equal(final.output_text, openaiResponses.textFromJson(terminal));
    });
  }
});
