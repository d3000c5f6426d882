import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { get } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { classifyOutcome } from '../../lib/pipeline/classify-outcome.ts';
import type { ClientProtocol } from '../../lib/protocols/client-protocol.ts';
import type { ClientEvent, StreamConverter } from '../../lib/protocols/converters/converter.ts';
import { clientProtocol } from '../../lib/protocols/registry.ts';
import { encodeEventStreamException, encodeEventStreamMessage } from '../../lib/transport/aws-event-stream.ts';
import { encodeSseData, SSE_DONE } from '../../lib/transport/sse-encoder.ts';
import type { UpstreamEvent } from '../../lib/transport/upstream-event.ts';
import { NOTHING_WRITTEN as NOTHING } from '../support/pipeline-harness.ts';
import { startRawUpstream } from '../support/raw-upstream.ts';
import type { RawUpstream } from '../support/raw-upstream.ts';
import { bytes, converted, decode, native, startRelayRig, tracked } from '../support/relay-rig.ts';
import type { Pieces, RelayRig } from '../support/relay-rig.ts';

// The commit point, byte-exact native relaying, usage-only events, limits, the gateway's own failures
// and slow or departing clients, on a real HTTP response (spec/support/relay-rig.ts). Upstream bytes
// are written with the production encoders.

const SECRET = 'sk-instance-secret-0123456789';
const chat = clientProtocol('openai-chat');
const anthropic = clientProtocol('anthropic-messages');
const bedrock = clientProtocol('bedrock-converse');
const on5xx = { on429: true, on5xx: true, statuses: [], rateLimitAware: false };

const chatChunk = (delta: Record<string, unknown>, finish: string | null = null) =>
  encodeSseData({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt-up', choices: [{ index: 0, delta, finish_reason: finish }] });
const chatUsageChunk = encodeSseData({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'gpt-up', choices: [], usage: { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 } });
const chatRole = chatChunk({ role: 'assistant', content: '' });
const chatText = (text: string) => chatChunk({ content: text });
const chatFinish = chatChunk({}, 'stop');

const ant = (event: string, data: Record<string, unknown>) => anthropic.encodeEvent({ event, data: { type: event, ...data } }) as string;
const antStart = ant('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-up', content: [], stop_reason: null, usage: { input_tokens: 7, output_tokens: 1 } } });
const antBlock = ant('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
const antText = (text: string) => ant('content_block_delta', { index: 0, delta: { type: 'text_delta', text } });
const antEnd = [ant('content_block_stop', { index: 0 }), ant('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 5 } }), ant('message_stop', {})];
const antError = (message: string) => ant('error', { error: { type: 'overloaded_error', message } });

const bedrockFrames = [
  encodeEventStreamMessage('messageStart', { role: 'assistant' }),
  encodeEventStreamMessage('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Grüße ' } }),
  encodeEventStreamMessage('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'aus Bedrock' } }),
  encodeEventStreamMessage('contentBlockStop', { contentBlockIndex: 0 }),
  encodeEventStreamMessage('messageStop', { stopReason: 'end_turn' }),
  encodeEventStreamMessage('metadata', { usage: { inputTokens: 11, outputTokens: 3, totalTokens: 14 }, metrics: { latencyMs: 5 } }),
];

const reset = (): Error => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });

let rig: RelayRig;

describe('relayStream', () => {
  before(async () => {
    rig = await startRelayRig(SECRET);
  });
  after(() => rig.close());
  const relay = (...args: Parameters<RelayRig['relay']>) => rig.relay(...args);
  const begin = (...args: Parameters<RelayRig['begin']>) => rig.begin(...args);

  describe('the commit point', () => {
    it('holds lifecycle frames until the first content, then sends them first and in order', async () => {
      let sentBeforeContent: boolean | undefined;
      const chunks = [chatRole, chatText('Hel'), chatText('lo'), chatFinish, SSE_DONE];
      const run = await relay({
        pieces: native(chat),
        body: (res) =>
          tracked(chunks, {
            onPull: (i) => {
              if (i === 1) sentBeforeContent = res.headersSent;
            },
          }).stream,
      });
      assert.equal(sentBeforeContent, false, 'nothing went out while only the role chunk had arrived');
      assert.equal(run.commits, 1);
      assert.equal(run.status, 200);
      assert.deepEqual(run.body, bytes(chunks));
      assert.equal(run.result.committed, true);
      assert.equal(run.result.error, undefined);
    });

    const errorFirst: Array<{ name: string; pieces: () => Pieces; chunks: Array<string | Uint8Array> }> = [
      { name: 'a native chat stream', pieces: () => native(chat), chunks: [chatRole, encodeSseData({ error: { message: `overloaded, key ${SECRET}`, type: 'server_error' } })] },
      { name: 'an Anthropic stream converted to chat', pieces: () => converted('openai-chat', 'anthropic-messages'), chunks: [antStart, antBlock, antError(`overloaded, key ${SECRET}`)] },
      { name: 'a native Bedrock stream', pieces: () => native(bedrock), chunks: [encodeEventStreamMessage('messageStart', { role: 'assistant' }), encodeEventStreamException('throttlingException', `slow down ${SECRET}`)] },
    ];
    for (const { name, pieces, chunks } of errorFirst) {
      it(`returns a retryable error and writes nothing when ${name} reports an error before any content`, async () => {
        const up = tracked([...chunks, chatText('never read')]);
        const run = await relay({ pieces: pieces(), body: () => up.stream });
        assert.equal(run.status, NOTHING, 'the client saw no byte of this attempt');
        assert.equal(run.body.length, 0);
        assert.equal(run.commits, 0);
        assert.equal(run.result.committed, false);
        assert.equal(run.result.error?.code, 'UPSTREAM_STREAM');
        assert.equal(classifyOutcome(run.result.error, on5xx).retryable, true);
        assert.ok(!run.result.error.message.includes(SECRET), 'the in-band message is scrubbed');
        assert.ok(up.state.destroyed, 'the upstream body is released');
        assert.equal(up.state.pulled, chunks.length, 'nothing after the error was read');
      });
    }

    it('keeps status 200 after content and ends a native stream with the upstream error event', async () => {
      const error = encodeSseData({ error: { message: 'model crashed', type: 'server_error' } });
      const run = await relay({ pieces: native(chat), body: () => tracked([chatRole, chatText('partial'), error]).stream });
      assert.equal(run.status, 200);
      const events = decode(chat, run.body);
      assert.match(events.at(-1)?.data ?? '', /model crashed/);
      assert.equal(run.result.committed, true);
      assert.equal(run.result.error?.code, 'UPSTREAM_STREAM');
    });

    it('keeps status 200 after content and ends a converted stream with the client protocol error chunk', async () => {
      const run = await relay({
        pieces: converted('openai-chat', 'anthropic-messages'),
        body: () => tracked([antStart, antBlock, antText('partial'), antError('overloaded mid-answer')]).stream,
      });
      assert.equal(run.status, 200);
      const events = decode(chat, run.body).map((e) => (e.data === '[DONE]' ? e.data : (JSON.parse(e.data) as Record<string, unknown>)));
      const errorAt = events.findIndex((e) => typeof e === 'object' && 'error' in e);
      assert.ok(errorAt > 0, 'an error chunk follows the content');
      assert.match(JSON.stringify(events[errorAt]), /overloaded mid-answer/);
      assert.ok(!events.slice(errorAt + 1).some((e) => typeof e === 'object' && JSON.stringify(e).includes('"content"')), 'no content after the error');
      assert.equal(run.result.error?.code, 'UPSTREAM_STREAM');
    });

    it('ends with the protocol error frame, status still 200, when the upstream connection breaks after content', async () => {
      const sent = [chatRole, chatText('half an ans')];
      const run = await relay({ pieces: native(chat), body: () => tracked(sent, { thenThrow: reset() }).stream });
      assert.equal(run.status, 200);
      assert.equal(run.result.error?.code, 'UPSTREAM_STREAM');
      assert.match(run.result.error.message, /broke after \d+ bytes: socket reset/);
      const frame = chat.streamErrorFrame(`upstream stream failed: ${run.result.error.message}`);
      assert.deepEqual(run.body, bytes([...sent, frame]));
    });
    it('treats a body closed without an error or an end as a break: error frame after content, status 200', async () => {
      const sent = [chatRole, chatText('cut off')];
      const body = new Readable({ read() {} });
      for (const chunk of sent) body.push(Buffer.from(chunk));
      // Closed as a dying socket would leave it: no 'end', no 'error'.
      setTimeout(() => body.destroy(), 50);
      const run = await relay({ pieces: native(chat), body: () => body });
      assert.equal(run.status, 200);
      assert.equal(run.result.error?.code, 'UPSTREAM_STREAM');
      assert.match(run.result.error.message, /broke after \d+ bytes/);
      assert.deepEqual(run.body, bytes([...sent, chat.streamErrorFrame(`upstream stream failed: ${run.result.error.message}`)]));
    });

    it('falls back (nothing written) when the body closes before any content', async () => {
      const body = new Readable({ read() {} });
      body.push(Buffer.from(chatRole));
      setTimeout(() => body.destroy(), 50);
      const run = await relay({ pieces: native(chat), body: () => body });
      assert.equal(run.status, NOTHING);
      assert.equal(run.result.committed, false);
      assert.equal(run.result.error?.code, 'UPSTREAM_STREAM');
    });
  });

  describe('native streams', () => {
    it('forwards an SSE stream byte for byte: comments, CRLF, spacing and split UTF-8 untouched', async () => {
      // A re-encoding relay would normalise all of these.
      const whole = Buffer.from(
        `: keep-alive\r\n\r\n${chatRole.replace('data: ', 'data:')}${chatText('Grüße, 世界').replace(/\n/g, '\r\n')}id: 7\n${chatFinish}${chatUsageChunk}${SSE_DONE}`,
        'utf8',
      );
      const cut = whole.indexOf(Buffer.from('世')) + 1; // inside a three-byte character
      const chunks = [whole.subarray(0, 5), whole.subarray(5, cut), whole.subarray(cut)];
      const run = await relay({ pieces: native(chat), body: () => tracked(chunks).stream });
      assert.equal(run.status, 200);
      assert.deepEqual(run.body, whole);
      assert.deepEqual(run.result.usage, { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 });
      assert.equal(run.result.model, 'gpt-up');
      assert.equal(run.result.text, 'Grüße, 世界');
    });

    it('forwards plain content after the commit point undecoded, with the bytes and result decoding gives', async () => {
      const errorChunk = encodeSseData({ error: { message: 'overloaded', type: 'server_error' } });
      const streams: Array<[ClientProtocol, string[]]> = [
        [chat, [chatRole, chatText('Hi'), chatText('a "usage" and "error" in the text'), chatText('x') + chatText('y'), chatFinish, chatUsageChunk, SSE_DONE]],
        [chat, [chatRole, chatText('Hi'), chatText('more'), errorChunk]],
        [anthropic, [antStart, antBlock, antText('Hi'), antText('more'), antText('x') + antText('y'), ...antEnd]],
        [anthropic, [antStart, antBlock, antText('Hi'), antText('more'), antError('overloaded')]],
      ];
      for (const [n, [protocol, chunks]] of streams.entries()) {
        const whole = bytes(chunks);
        const splits = [chunks.map((c) => Buffer.from(c)), [whole.subarray(0, 200), whole.subarray(200)], [whole.subarray(0, 97), whole.subarray(97, 300), whole.subarray(300)]];
        for (const [k, parts] of splits.entries()) {
          for (const dropUsageEvents of [false, true]) {
            const observer = protocol.createStreamObserver(false);
            let skipped = 0;
            const counting = { ...observer, plainContent: (chunk: Uint8Array) => (observer.plainContent?.(chunk) === true ? ++skipped > 0 : false) };
            const fast = await relay({ pieces: native(protocol), body: () => tracked(parts).stream, more: { observer: counting, dropUsageEvents } });
            const slow = await relay({ pieces: native(protocol), body: () => tracked(parts).stream, more: { observer: { ...protocol.createStreamObserver(false), plainContent: undefined }, dropUsageEvents } });
            const what = `stream ${n}, split ${k}, dropUsageEvents ${dropUsageEvents}`;
            assert.deepEqual(fast.body, slow.body, what);
            const seen = (r: typeof fast.result) => ({ usage: r.usage, model: r.model, toolCalls: r.toolCalls, committed: r.committed, error: r.error?.code });
            assert.deepEqual(seen(fast.result), seen(slow.result), what);
            if (k === 0) assert.ok(skipped >= 1, `${what}: chunks went out undecoded (${skipped})`);
          }
        }
      }
    });

    it('forwards a Bedrock binary event stream byte for byte, split anywhere', async () => {
      const whole = bytes(bedrockFrames);
      const chunks = [whole.subarray(0, 3), whole.subarray(3, 40), whole.subarray(40, 41), whole.subarray(41)];
      const run = await relay({ pieces: native(bedrock), body: () => tracked(chunks).stream });
      assert.equal(run.status, 200);
      assert.equal(run.commits, 1);
      assert.deepEqual(run.body, whole);
      assert.deepEqual(run.result.usage, { prompt_tokens: 11, completion_tokens: 3, total_tokens: 14 });
      assert.equal(run.result.error, undefined);
    });
  });

  describe('usage-only events', () => {
    const chunks = [chatRole, chatText('Hi'), chatFinish, chatUsageChunk, SSE_DONE];
    const isUsageOnly = (e: UpstreamEvent) => e.data !== '[DONE]' && chat.usageEvents?.isUsageOnly(JSON.parse(e.data)) === true;

    it('drops the usage-only chunk of a native stream when dropUsageEvents says so, and still counts its tokens', async () => {
      const run = await relay({ pieces: native(chat), body: () => tracked(chunks).stream, more: { dropUsageEvents: true } });
      const got = decode(chat, run.body);
      const upstream = decode(chat, bytes(chunks));
      assert.deepEqual(got, upstream.filter((e) => !isUsageOnly(e)));
      assert.equal(got.length, upstream.length - 1);
      assert.deepEqual(run.result.usage, { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 });
    });

    it('relays whole-event chunks as their own bytes while dropping usage, whatever the chunk boundaries', async () => {
      // CRLF lines, a comment, a named event with an id: a chunk of whole events goes out untouched
      // (comment included); a chunk that splits an event or holds the usage event is re-encoded.
      const pieces = [
        ': keep-alive\r\n\r\n',
        chatRole.replace(/\n/g, '\r\n'),
        `event: message\nid: 7\n${chatText('Hi')}`,
        chatFinish,
        chatUsageChunk,
        SSE_DONE,
      ];
      const whole = bytes(pieces);
      const upstream = decode(chat, whole);
      const expected = upstream.filter((e) => !isUsageOnly(e));
      // Each piece its own chunk: every piece but the usage one is relayed byte for byte.
      const aligned = await relay({ pieces: native(chat), body: () => tracked(pieces).stream, more: { dropUsageEvents: true } });
      assert.deepEqual(decode(chat, aligned.body), expected);
      const raw = Buffer.concat(pieces.filter((p) => p !== chatUsageChunk).map((p) => Buffer.from(p)));
      assert.deepEqual(aligned.body, raw);
      // Every split point in two, and in three: never an event twice, lost, or the usage event.
      for (let i = 1; i < whole.length; i += 1) {
        for (const j of [undefined, i + 1, i + 17]) {
          const cuts = j === undefined || j >= whole.length ? [whole.subarray(0, i), whole.subarray(i)] : [whole.subarray(0, i), whole.subarray(i, j), whole.subarray(j)];
          const run = await relay({ pieces: native(chat), body: () => tracked(cuts).stream, more: { dropUsageEvents: true } });
          assert.deepEqual(decode(chat, run.body), expected, `split at ${i}${j === undefined ? '' : ` and ${j}`}`);
          assert.deepEqual(run.result.usage, { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 });
        }
      }
    });

    it('keeps the usage-only chunk of a native stream otherwise', async () => {
      const run = await relay({ pieces: native(chat), body: () => tracked(chunks).stream });
      assert.deepEqual(run.body, bytes(chunks));
    });

    for (const drop of [true, false]) {
      it(`${drop ? 'drops' : 'keeps'} the usage-only chunk a converter makes when dropUsageEvents is ${drop}`, async () => {
        const run = await relay({
          pieces: converted('openai-chat', 'anthropic-messages'),
          body: () => tracked([antStart, antBlock, antText('Hi'), ...antEnd]).stream,
          more: { dropUsageEvents: drop },
        });
        const events = decode(chat, run.body);
        assert.equal(events.filter(isUsageOnly).length, drop ? 0 : 1);
        assert.equal(events.at(-1)?.data, '[DONE]');
        assert.equal(run.result.usage?.completion_tokens, 5);
      });
    }
  });

  describe('limits and truncation', () => {
    const long = [chatRole, ...Array.from({ length: 200 }, (_, i) => chatText(`token ${i} `)), chatFinish, SSE_DONE];

    it('ends a stream that passes maxBytes with an error frame and stops reading it', async () => {
      const maxBytes = bytes(long.slice(0, 6)).length;
      const up = tracked(long);
      const run = await relay({ pieces: native(chat), body: () => up.stream, more: { maxBytes } });
      assert.equal(run.status, 200);
      assert.equal(run.result.error?.code, 'UPSTREAM_RESPONSE_TOO_LARGE');
      const events = decode(chat, run.body);
      assert.match(events.at(-1)?.data ?? '', /max_response_bytes/);
      assert.ok(run.body.length <= maxBytes + 512, `the client got at most maxBytes of upstream bytes (${run.body.length})`);
      assert.ok(up.state.pulled <= 8, `reading stopped (${up.state.pulled} chunks pulled)`);
      assert.ok(up.state.destroyed);
    });

    it('fails without writing when maxBytes is passed before any content', async () => {
      const pings = Array.from({ length: 20 }, () => ': ping\n\n');
      const run = await relay({ pieces: native(chat), body: () => tracked([...pings, chatText('late')]).stream, more: { maxBytes: 60 } });
      assert.equal(run.status, NOTHING);
      assert.equal(run.result.error?.code, 'UPSTREAM_RESPONSE_TOO_LARGE');
    });

    it('fails without writing when the stream ends before any content and without its terminal event', async () => {
      const run = await relay({ pieces: native(chat), body: () => tracked([chatRole]).stream });
      assert.equal(run.status, NOTHING);
      assert.equal(run.body.length, 0);
      assert.equal(run.result.error?.code, 'UPSTREAM_STREAM');
      assert.equal(classifyOutcome(run.result.error, on5xx).retryable, true);
    });

    it('ends a stream cut after content with the error frame, not with [DONE]', async () => {
      const sent = [chatRole, chatText('cut')];
      const run = await relay({ pieces: native(chat), body: () => tracked(sent).stream });
      assert.equal(run.status, 200);
      assert.equal(run.result.error?.code, 'UPSTREAM_STREAM');
      assert.match(run.result.error.message, /without its terminal event/);
      assert.deepEqual(run.body, bytes([...sent, chat.streamErrorFrame(run.result.error.message)]));
    });

    it('ends a converted stream cut after content with the client protocol error frame and no closing events', async () => {
      const run = await relay({ pieces: converted('openai-chat', 'anthropic-messages'), body: () => tracked([antStart, antBlock, antText('cut')]).stream });
      assert.equal(run.status, 200);
      assert.equal(run.result.error?.code, 'UPSTREAM_STREAM');
      const events = decode(chat, run.body);
      assert.ok(!events.some((e) => e.data === '[DONE]'), 'no [DONE]: the answer is not whole');
      assert.ok(!events.some((e) => /"finish_reason":"stop"/.test(e.data)));
      assert.ok(run.body.toString('utf8').endsWith(chat.streamErrorFrame(run.result.error.message) as string));
    });
  });

  describe("the gateway's own failures", () => {
    const throwingDecoder = (protocol: ClientProtocol, at: number) => {
      const real = protocol.createDecoder();
      let n = 0;
      return {
        push: (c: Uint8Array) => {
          if (n++ === at) throw new TypeError('decoder bug with private detail');
          return real.push(c);
        },
        end: () => real.end(),
      };
    };
    const throwingConverter = (where: 'push' | 'end', at = 0): StreamConverter => {
      const real = converted('openai-chat', 'anthropic-messages').converter;
      assert.ok(real);
      let n = 0;
      return {
        push: (e) => {
          if (where === 'push' && n++ === at) throw new TypeError('converter bug with private detail');
          return real.push(e);
        },
        end: (): ClientEvent[] => {
          if (where === 'end') throw new TypeError('converter bug with private detail');
          return real.end();
        },
      };
    };

    it('blames the upstream when its bytes cannot be decoded (bad framing), writing nothing before content', async () => {
      const run = await relay({ pieces: native(chat), body: () => tracked([chatRole, chatText('x'), chatFinish, SSE_DONE]).stream, more: { decoder: throwingDecoder(chat, 0) } });
      assert.equal(run.status, NOTHING);
      assert.equal(run.result.error?.code, 'UPSTREAM_STREAM');
      assert.match(run.result.error.message, /sent a malformed stream after \d+ bytes/);
    });

    it('ends the stream with a generic error frame when a converter throws after content: INTERNAL_ERROR, no detail leaked', async () => {
      const pieces = { ...converted('openai-chat', 'anthropic-messages'), converter: throwingConverter('push', 3) };
      const run = await relay({ pieces, body: () => tracked([antStart, antBlock, antText('ok so far'), antText('boom'), ...antEnd]).stream });
      assert.equal(run.status, 200);
      assert.equal(run.result.error?.code, 'INTERNAL_ERROR');
      const text = run.body.toString('utf8');
      assert.ok(text.includes('ok so far'));
      assert.ok(text.endsWith(chat.streamErrorFrame('upstream stream failed: internal gateway error while relaying the stream') as string));
      assert.ok(!text.includes('private detail'));
    });

    it("turns a converter whose end() throws into an InternalError, never an upstream error", async () => {
      const pieces = { ...converted('openai-chat', 'anthropic-messages'), converter: throwingConverter('end') };
      const run = await relay({ pieces, body: () => tracked([antStart, antBlock, antText('whole'), ...antEnd]).stream });
      assert.equal(run.result.error?.code, 'INTERNAL_ERROR');
      assert.equal(classifyOutcome(run.result.error, on5xx).countsAsFailure, false);
      assert.ok(!run.body.toString('utf8').includes('private detail'));
    });
  });

  describe('the client', () => {
    let raw: RawUpstream | undefined;
    afterEach(async () => {
      await raw?.close();
      raw = undefined;
    });

    it('stops relaying and aborts the upstream request when the client leaves', async () => {
      let written = 0;
      raw = await startRawUpstream(async (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(chatRole);
        // Endless: only the gateway giving up ends it.
        while (!res.destroyed && written < 2000) {
          res.write(chatText(`t${written++} `));
          await sleep(10);
        }
      });
      const url = raw.url;
      const outcome = begin({
        pieces: native(chat),
        body: async (_res, signal) => (await request(url, { method: 'POST', body: '{}', signal })).body,
      });
      await new Promise<void>((resolve) => {
        const req = get(`http://127.0.0.1:${rig.port}/`, (res) => res.once('data', () => req.destroy()));
        req.on('error', () => undefined);
        req.on('close', () => resolve());
        req.end();
      });
      const { result } = await outcome;
      assert.equal(result.error?.code, 'CLIENT_ABORTED');
      for (let i = 0; i < 100 && raw.aborted() === 0; i++) await sleep(10);
      assert.equal(raw.aborted(), 1, 'the upstream request was aborted, its connection closed');
      assert.ok(written < 2000, 'long before the upstream ran out');
    });

    it('waits for a slow client to drain instead of buffering the upstream, then delivers every byte', async () => {
      const piece = chatText('x'.repeat(64 * 1024));
      const count = 256; // 16 MiB: four times what a paused loopback socket absorbs
      const chunks = [chatRole, ...Array.from({ length: count }, () => piece), chatFinish, SSE_DONE];
      const up = tracked(chunks);
      const outcome = begin({ pieces: native(chat), body: () => up.stream });
      const received = createHash('sha256');
      const response = await new Promise<IncomingMessage>((resolve) => get(`http://127.0.0.1:${rig.port}/`, resolve).end());
      response.pause();
      // Wait until the relay stops pulling (nothing pulled for 100 ms): it is blocked on the client.
      let last = -1;
      for (let i = 0; i < 100 && up.state.pulled !== last; i++) {
        last = up.state.pulled;
        await sleep(100);
      }
      const res = rig.lastRes();
      assert.ok(res);
      assert.ok(up.state.pulled < count / 2, `the relay paused after ${up.state.pulled} of ${chunks.length} chunks`);
      assert.ok(res.writableLength <= 2 * piece.length, `at most a chunk or two held in memory (${res.writableLength} bytes)`);
      response.on('data', (c: Buffer) => received.update(c));
      response.resume();
      await new Promise((resolve) => response.on('end', resolve));
      const { result } = await outcome;
      assert.equal(result.error, undefined);
      assert.equal(received.digest('hex'), createHash('sha256').update(bytes(chunks)).digest('hex'), 'every byte, in order');
    });

    it('reports CLIENT_ABORTED when a slow client leaves while the relay waits for it to drain', async () => {
      // A client that leaves while the relay waits for `drain` did not get its answer: 499, not 200.
      const piece = chatText('y'.repeat(64 * 1024));
      const up = tracked([chatRole, ...Array.from({ length: 256 }, () => piece), chatFinish, SSE_DONE]);
      const outcome = begin({ pieces: native(chat), body: () => up.stream });
      const req = get(`http://127.0.0.1:${rig.port}/`, (res) => res.pause());
      req.on('error', () => undefined);
      req.end();
      let last = -1;
      for (let i = 0; i < 100 && up.state.pulled !== last; i++) {
        last = up.state.pulled;
        await sleep(100);
      }
      req.destroy();
      const { result } = await outcome;
      assert.ok(up.state.destroyed, 'the upstream body is released');
      assert.equal(result.error?.code, 'CLIENT_ABORTED');
    });
  });
});
