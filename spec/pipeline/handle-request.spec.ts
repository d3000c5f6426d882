import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { handleRequest } from '../../lib/pipeline/handle-request.ts';
import { chatBody, postJson } from '../support/gateway-harness.ts';
import { buildRoute, startFront } from '../support/pipeline-harness.ts';
import type { Front, TestRoute } from '../support/pipeline-harness.ts';
import { chatChunk, chatCompletion, startRawUpstream } from '../support/raw-upstream.ts';
import type { RawUpstream } from '../support/raw-upstream.ts';

// One client request → attempts → one answer, through handleRequest with a real route runtime. One
// fake upstream plays every instance: it tells them apart by the key each instance sends.

type Behaviour = (res: ServerResponse) => void | Promise<void>;

const keyOf = (name: string) => `sk-${name}-secret-key-123456`;
const json = (status: number, body: unknown, headers: Record<string, string> = {}): Behaviour => (res) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};
const ok = (text: string): Behaviour => (res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(chatCompletion(text));
};
const failing = (status: number, message: string, headers: Record<string, string> = {}) => json(status, { error: { message, type: 'server_error' } }, headers);
const hang: Behaviour = () => undefined;

let raw: RawUpstream;
let behaviours: Record<string, Behaviour> = {};
const calls: string[] = [];
let test: TestRoute | undefined;
let front: Front | undefined;

describe('handleRequest', () => {
  before(async () => {
    raw = await startRawUpstream(async (req, res) => {
      const name = /sk-(\w+)-secret/.exec(req.headers.authorization ?? '')?.[1] ?? '?';
      calls.push(name);
      const behave = behaviours[name];
      if (!behave) throw new Error(`no behaviour for ${name}`);
      await behave(res);
    });
  });
  after(() => raw.close());
  afterEach(async () => {
    await front?.close();
    await test?.close();
    front = undefined;
    test = undefined;
  });

  /** Instances named in priority order (the first is tried first), all on the fake upstream. */
  async function gateway(names: string[], plugin: Record<string, unknown> = {}, extra: Record<string, Record<string, unknown>> = {}) {
    calls.length = 0;
    test = buildRoute({
      timeout: 2000,
      instances: names.map((name, i) => ({
        name,
        provider: 'openai-compatible',
        priority: names.length - i,
        auth: { header: { Authorization: `Bearer ${keyOf(name)}` } },
        override: { endpoint: raw.url },
        ...extra[name],
      })),
      ...plugin,
    });
    front = await startFront(test, handleRequest);
    return { test, front };
  }

  function onlyRecord(f: Front): Record<string, unknown> {
    assert.equal(f.records.length, 1, 'one access record per request');
    const record = f.records[0];
    assert.ok(record);
    return record as unknown as Record<string, unknown>;
  }

  const errorMessage = (body: unknown): string => ((body as { error?: { message?: string } }).error?.message ?? '');

  describe('the fallback loop', () => {
    it('falls back on a retryable failure and answers from the next instance; the failed one counts the fallback', async () => {
      behaviours = { a: failing(503, 'busy'), b: ok('from b') };
      const { test, front } = await gateway(['a', 'b']);
      const res = await postJson(`${front.url}/v1/chat/completions`, chatBody());
      assert.equal(res.status, 200);
      assert.equal(res.text, chatCompletion('from b'));
      assert.deepEqual(calls, ['a', 'b']);
      const record = onlyRecord(front);
      assert.equal(record['status'], 200);
      assert.equal(record['fallbacks'], 1);
      assert.equal(record['instance'], 'b');
      assert.deepEqual((record['attempts'] as Array<{ instance: string; status: number }>).map((a) => [a.instance, a.status]), [['a', 503], ['b', 200]]);
      assert.equal(test.instance('a').stats.fallbacks, 1);
      assert.equal(test.instance('a').stats.failures, 1);
      assert.equal(test.instance('b').stats.fallbacks, 0);
      assert.equal(test.instance('b').stats.failures, 0);
    });

    it("stops on a non-retryable failure and relays that provider's own answer", async () => {
      const body = { error: { message: 'messages: field required', type: 'invalid_request_error', param: 'messages', code: null } };
      behaviours = { a: json(400, body, { 'x-request-id': 'req-a' }), b: ok('never') };
      const { front } = await gateway(['a', 'b']);
      const res = await postJson(`${front.url}/v1/chat/completions`, chatBody());
      assert.equal(res.status, 400);
      assert.deepEqual(res.json, body);
      assert.equal(res.headers.get('x-request-id'), 'req-a');
      assert.deepEqual(calls, ['a']);
      const record = onlyRecord(front);
      assert.equal(record['status'], 400);
      assert.equal(record['fallbacks'], 0);
    });

    it('makes at most 1 + max_retries attempts', async () => {
      behaviours = { a: failing(503, 'a down'), b: failing(503, 'b down'), c: ok('never') };
      const { front } = await gateway(['a', 'b', 'c'], { max_retries: 1 });
      const res = await postJson(`${front.url}/v1/chat/completions`, chatBody());
      assert.deepEqual(calls, ['a', 'b']);
      assert.equal(res.status, 502);
      assert.equal(onlyRecord(front)['fallbacks'], 1);
    });

    it('starts no further attempt once the request is older than retry_on_failure_within_ms', async () => {
      behaviours = {
        a: async (res) => {
          await sleep(400);
          failing(503, 'slow failure')(res);
        },
        b: ok('never'),
      };
      const { front } = await gateway(['a', 'b'], { retry_on_failure_within_ms: 150 });
      const res = await postJson(`${front.url}/v1/chat/completions`, chatBody());
      assert.deepEqual(calls, ['a']);
      assert.equal(res.status, 503, "the single failure's own answer");
      assert.equal(errorMessage(res.json), 'slow failure');
    });

    it('still falls back inside retry_on_failure_within_ms', async () => {
      behaviours = { a: failing(503, 'quick failure'), b: ok('from b') };
      const { front } = await gateway(['a', 'b'], { retry_on_failure_within_ms: 5000 });
      const res = await postJson(`${front.url}/v1/chat/completions`, chatBody());
      assert.deepEqual(calls, ['a', 'b']);
      assert.equal(res.status, 200);
    });

    it('does not fall back once a stream reached the client: status 200, the error recorded', async () => {
      behaviours = {
        a: (res) => {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(chatChunk('partial'));
          setTimeout(() => res.destroy(), 20);
        },
        b: ok('never'),
      };
      const { front } = await gateway(['a', 'b']);
      const res = await postJson(`${front.url}/v1/chat/completions`, chatBody({ stream: true }));
      assert.equal(res.status, 200);
      assert.match(res.text, /partial/);
      assert.match(res.text, /upstream_stream_error/);
      assert.deepEqual(calls, ['a']);
      const record = onlyRecord(front);
      assert.equal(record['status'], 200);
      assert.match(String(record['error']), /instance a/);
    });
  });

  describe('the final answer', () => {
    it("relays a lone instance's 503 as the provider wrote it", async () => {
      behaviours = { a: failing(503, 'maintenance', { 'retry-after': '30' }) };
      const { front } = await gateway(['a']);
      const res = await postJson(`${front.url}/v1/chat/completions`, chatBody());
      assert.equal(res.status, 503);
      assert.equal(errorMessage(res.json), 'maintenance');
      assert.equal(res.headers.get('retry-after'), '30');
    });

    it('answers 429 with the smallest Retry-After when every attempt was a 429', async () => {
      behaviours = { a: failing(429, 'slow down a', { 'retry-after': '20' }), b: failing(429, 'slow down b', { 'retry-after': '3' }) };
      const { front } = await gateway(['a', 'b']);
      const res = await postJson(`${front.url}/v1/chat/completions`, chatBody());
      assert.equal(res.status, 429);
      assert.equal(res.headers.get('retry-after'), '3');
      assert.match(errorMessage(res.json), /a: 429.*b: 429/);
      assert.equal(onlyRecord(front)['status'], 429);
    });

    it('answers 504 when every attempt timed out', async () => {
      behaviours = { a: hang, b: hang };
      const { front } = await gateway(['a', 'b'], { timeout: 300 });
      const res = await postJson(`${front.url}/v1/chat/completions`, chatBody());
      assert.equal(res.status, 504);
      assert.match(errorMessage(res.json), /a: 504 .*timed out after 300 ms.*b: 504/);
      assert.equal(onlyRecord(front)['status'], 504);
    });

    it('answers 502 listing every attempt when the failures differ', async () => {
      behaviours = { a: failing(429, 'quota'), b: failing(500, 'crashed') };
      const { front } = await gateway(['a', 'b']);
      const res = await postJson(`${front.url}/v1/chat/completions`, chatBody());
      assert.equal(res.status, 502);
      const message = errorMessage(res.json);
      assert.match(message, /all 2 attempts failed/);
      assert.match(message, /a: 429 HTTP 429: quota/);
      assert.match(message, /b: 500 HTTP 500: crashed/);
      assert.equal(res.headers.get('retry-after'), null);
    });

    it('answers 400 PROTOCOL_NOT_SUPPORTED when no instance can serve the client protocol', async () => {
      behaviours = {};
      const { front } = await gateway(['a'], {}, { a: { provider: 'deepseek' } });
      const res = await postJson(`${front.url}/v1/embeddings`, { model: 'e', input: 'hello' });
      assert.equal(res.status, 400);
      assert.match(errorMessage(res.json), /no instance of route r1 serves openai-embeddings requests/);
      assert.deepEqual(calls, []);
      assert.equal(onlyRecord(front)['status'], 400);
    });

    it('records 499 and tries no other instance when the client leaves', async () => {
      behaviours = { a: hang, b: ok('never') };
      const { test, front } = await gateway(['a', 'b'], { timeout: 10_000 });
      const controller = new AbortController();
      const pending = fetch(`${front.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(chatBody()), signal: controller.signal }).catch(() => undefined);
      while (calls.length === 0) await sleep(5);
      controller.abort();
      await pending;
      for (let i = 0; i < 100 && front.records.length === 0; i++) await sleep(10);
      assert.equal(onlyRecord(front)['status'], 499);
      assert.deepEqual(calls, ['a']);
      assert.equal(test.instance('a').stats.failures, 0, 'the client leaving is not the instance failing');
      assert.equal(test.instance('a').stats.fallbacks, 0);
    });
  });
});
