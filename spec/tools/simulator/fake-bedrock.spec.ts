import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  ModelStreamErrorException,
  ServiceUnavailableException,
  ThrottlingException,
  ValidationException,
} from '@aws-sdk/client-bedrock-runtime';
import type { ConverseStreamOutput, Message } from '@aws-sdk/client-bedrock-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Pool } from 'undici';
import type { UpstreamEvent } from '../../../lib/protocols/converters/converter.ts';
import { startFakeBedrock } from '../../../tools/simulator/fake-bedrock.ts';
import { createEventStreamDecoder } from '../../../lib/transport/aws-event-stream.ts';
import { signBedrockRequest } from '../../../lib/providers/auth/sigv4.ts';
import type { FakeBedrock } from '../../../tools/simulator/fake-bedrock.ts';

// The fake Bedrock is what the gateway's Bedrock tests trust, so it is checked against the real AWS SDK:
// if the SDK's signer passes its check and the SDK parses its frames, a gateway meets the same bytes.
const credentials = { access_key_id: 'AKIDFAKEBEDROCK', secret_access_key: 'fake/secret+KEY', session_token: 'FQoGZXIvYXdzEXAMPLE' };
const region = 'us-west-2';
const MODEL = 'anthropic.claude-3-5-sonnet-20240620-v1:0';
const messages: Message[] = [{ role: 'user', content: [{ text: 'Say hello' }] }];

// The Bedrock runtime client speaks HTTP/2 by default (NodeHttp2Handler); the fake, like the gateway's
// undici pools, speaks HTTP/1.1, so the client is given the SDK's HTTP/1.1 handler.
function clientFor(sim: FakeBedrock, secret = credentials.secret_access_key): BedrockRuntimeClient {
  return new BedrockRuntimeClient({
    region,
    endpoint: sim.url,
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler(),
    credentials: { accessKeyId: credentials.access_key_id, secretAccessKey: secret, sessionToken: credentials.session_token },
  });
}

async function collect(stream: AsyncIterable<ConverseStreamOutput> | undefined): Promise<ConverseStreamOutput[]> {
  const events: ConverseStreamOutput[] = [];
  for await (const e of stream ?? []) events.push(e);
  return events;
}

async function streamError(sim: FakeBedrock): Promise<{ error: unknown; text: string }> {
  const { stream } = await clientFor(sim).send(new ConverseStreamCommand({ modelId: MODEL, messages }));
  let text = '';
  try {
    for await (const e of stream ?? []) text += e.contentBlockDelta?.delta?.text ?? '';
  } catch (error) {
    return { error, text };
  }
  assert.fail('the stream should have failed');
}

describe('fake Bedrock upstream', () => {
  let sim: FakeBedrock;
  let client: BedrockRuntimeClient;

  before(async () => {
    sim = await startFakeBedrock({ credentials, region, name: 'br-a' });
    client = clientFor(sim);
  });
  afterEach(() => sim.reset());
  after(() => sim.close());

  it('answers Converse for a signed SDK request and sees the model id as one encoded path segment', async () => {
    sim.setBehavior({ kind: 'ok', content: 'Hi there' });
    const out = await client.send(new ConverseCommand({ modelId: MODEL, messages, inferenceConfig: { maxTokens: 50 } }));
    assert.equal(out.output?.message?.content?.[0]?.text, 'Hi there');
    assert.equal(out.stopReason, 'end_turn');
    assert.equal(out.usage?.totalTokens, (out.usage?.inputTokens ?? 0) + (out.usage?.outputTokens ?? 0));
    assert.equal(out.$metadata.requestId, 'req-br-a-1');
    const seen = sim.requests[0];
    assert.equal(seen?.path, '/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse');
    assert.equal(seen?.modelId, MODEL);
    assert.equal(seen?.signatureValid, true);
    assert.equal(seen?.headers['x-amz-security-token'], credentials.session_token);
  });

  it('streams ConverseStream frames the SDK decodes into the documented event order with usage last', async () => {
    sim.setBehavior({ kind: 'ok', content: 'one two three four', chunks: 4 });
    const { stream } = await client.send(new ConverseStreamCommand({ modelId: MODEL, messages }));
    const events = await collect(stream);
    const kinds = events.map((e) => Object.keys(e).find((k) => e[k as keyof ConverseStreamOutput] !== undefined));
    assert.deepEqual(kinds, ['messageStart', 'contentBlockDelta', 'contentBlockDelta', 'contentBlockDelta', 'contentBlockDelta', 'contentBlockStop', 'messageStop', 'metadata']);
    assert.equal(events.map((e) => e.contentBlockDelta?.delta?.text ?? '').join(''), 'one two three four');
    assert.equal(events.at(-2)?.messageStop?.stopReason, 'end_turn');
    assert.ok((events.at(-1)?.metadata?.usage?.outputTokens ?? 0) > 0);
    assert.equal(sim.requests[0]?.path, '/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream');
  });

  it('rejects a request signed with the wrong secret with 403 InvalidSignatureException', async () => {
    await assert.rejects(clientFor(sim, 'not-the-secret').send(new ConverseCommand({ modelId: MODEL, messages })), (err: unknown) => {
      const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
      assert.equal(e.name, 'InvalidSignatureException');
      assert.equal(e.$metadata?.httpStatusCode, 403);
      assert.match(e.message ?? '', /^The request signature we calculated does not match/);
      return true;
    });
    assert.equal(sim.requests[0]?.signatureValid, false);
  });

  it('accepts what signBedrockRequest signs when sent with undici, and its stream decodes into upstream events', async () => {
    sim.setBehavior({ kind: 'ok', content: 'abc', chunks: 3 });
    const url = new URL(`${sim.url}/model/${encodeURIComponent(MODEL)}/converse-stream`);
    const body = Buffer.from(JSON.stringify({ messages }));
    const headers = await signBedrockRequest({ method: 'POST', url, headers: { 'content-type': 'application/json' }, body }, credentials, region);
    const pool = new Pool(sim.url);
    try {
      const res = await pool.request({ method: 'POST', path: url.pathname, headers, body });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-type'], 'application/vnd.amazon.eventstream');
      const decoder = createEventStreamDecoder();
      const events: UpstreamEvent[] = [];
      for await (const chunk of res.body) events.push(...decoder.push(chunk as Uint8Array));
      events.push(...decoder.end());
      assert.deepEqual(events.map((e) => e.event), ['messageStart', 'contentBlockDelta', 'contentBlockDelta', 'contentBlockDelta', 'contentBlockStop', 'messageStop', 'metadata']);
      assert.equal(sim.requests[0]?.signatureValid, true);
    } finally {
      await pool.close();
    }
  });

  it('rejects an unsigned request before looking at it', async () => {
    const res = await fetch(`${sim.url}/model/m/converse`, { method: 'POST', body: JSON.stringify({ messages }) });
    assert.equal(res.status, 403);
    assert.equal(res.headers.get('x-amzn-errortype'), 'InvalidSignatureException');
  });

  it('answers scripted statuses as the Bedrock exceptions the SDK names from x-amzn-errortype', async () => {
    const cases: Array<[number, new (...args: never[]) => Error]> = [
      [429, ThrottlingException],
      [503, ServiceUnavailableException],
      [400, ValidationException],
    ];
    for (const [status, type] of cases) {
      sim.setBehavior({ kind: 'status', status });
      await assert.rejects(client.send(new ConverseCommand({ modelId: MODEL, messages })), type);
    }
    sim.setBehavior({ kind: 'status', status: 500, body: { message: 'boom' } });
    await assert.rejects(client.send(new ConverseCommand({ modelId: MODEL, messages })), { name: 'InternalServerException', message: 'boom' });
  });

  it('sends an exception frame after N deltas for stream-error', async () => {
    sim.setBehavior({ kind: 'stream-error', afterChunks: 2 });
    const { error, text } = await streamError(sim);
    assert.ok(error instanceof ModelStreamErrorException);
    assert.ok(text.length > 0);
  });

  it('cuts the connection mid-stream for stream-cut, so the SDK fails after partial content', async () => {
    sim.setBehavior({ kind: 'stream-cut', afterChunks: 2 });
    const { error, text } = await streamError(sim);
    assert.ok(error instanceof Error);
    assert.ok(text.length > 0);
  });

  it('replays a recorded stream: a converter\'s Bedrock output parses in the real SDK as the tool call it is', async () => {
    const path = new URL('../../fixtures/converters/bedrock/bedrock-converse-to-anthropic-messages/streams/tool-use.expected.json', import.meta.url);
    const events = JSON.parse(readFileSync(path, 'utf8')) as Array<[string, unknown]>;
    sim.setBehavior({ kind: 'events', events });
    const { stream } = await client.send(new ConverseStreamCommand({ modelId: MODEL, messages }));
    const out = await collect(stream);
    assert.equal(out[3]?.contentBlockStart?.start?.toolUse?.name, 'get_weather');
    const input = out.map((e) => e.contentBlockDelta?.delta?.toolUse?.input ?? '').join('');
    assert.deepEqual(JSON.parse(input), { location: 'Paris' });
    assert.equal(out.at(-2)?.messageStop?.stopReason, 'tool_use');
    assert.equal(out.at(-1)?.metadata?.usage?.outputTokens, 65);
  });

  it('fails the call with a connection error for drop, and counts every call by path', async () => {
    sim.setBehavior({ kind: 'drop' });
    await assert.rejects(client.send(new ConverseCommand({ modelId: MODEL, messages })));
    assert.equal(sim.calls('/model/'), 1);
  });

  it('fails a share of calls for flaky, deciding with the injected random source', async () => {
    const rolls = [0.1, 0.9];
    sim.setBehavior({ kind: 'flaky', failRate: 0.5, random: () => rolls.shift() ?? 1 });
    await assert.rejects(client.send(new ConverseCommand({ modelId: MODEL, messages })), ServiceUnavailableException);
    const ok = await client.send(new ConverseCommand({ modelId: MODEL, messages }));
    assert.ok(ok.output?.message?.content?.[0]?.text);
  });

  it('closes while a request hangs without waiting for the client', async () => {
    const other = await startFakeBedrock({ credentials, region, behavior: { kind: 'hang' } });
    const pending = clientFor(other).send(new ConverseCommand({ modelId: MODEL, messages }));
    while (other.calls() === 0) await new Promise((r) => setTimeout(r, 5));
    await other.close();
    await assert.rejects(pending);
  });
});
