import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { gzipSync } from 'node:zlib';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { instance, postJson, startGateway } from '../support/gateway-harness.ts';
import type { RawResponse } from '../support/raw-http.ts';
import { rawRequest } from '../support/raw-http.ts';

// A few hundred generated hostile requests through the real listener. Every one must be refused
// (4xx, in the client protocol's error shape) before any upstream call, and the gateway must come out
// as it went in: same memory and file descriptors, every breaker closed. FUZZ_SEED=n reproduces a run.

const SEED = Number(process.env['FUZZ_SEED'] ?? Math.floor(Math.random() * 2 ** 32));
const CASES = 300;
const LIMIT = 1024 * 1024;

/** mulberry32: small, fast and good enough to pick test inputs. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Shape = 'openai' | 'anthropic' | 'bedrock';

interface Case {
  kind: string;
  target: string;
  headers: string[];
  body: Buffer;
}

const endpoints: Array<{ path: string; base: Record<string, unknown>; field: string; wrong: unknown[] }> = [
  {
    path: '/v1/chat/completions',
    base: { model: 'm', messages: [{ role: 'user', content: 'hi' }] },
    field: 'messages',
    wrong: ['hi', 1, {}, null, true, [], [1, 2, 3], ['x'], [null], [{}], [{ role: 5 }], [{ role: 'user', content: 5 }], [{ role: 'user', content: [1] }], [{ role: 'user', content: {} }]],
  },
  {
    path: '/v1/embeddings',
    base: { model: 'e', input: ['a'] },
    field: 'input',
    wrong: [{}, null, true, 5, [], [{}], [null], [true], [[1.5]], [['a']]],
  },
  {
    path: '/v1/responses',
    base: { model: 'r', input: 'hi' },
    field: 'input',
    wrong: [5, {}, null, true, [1], ['x'], [null], [[]], [{ content: 5 }], [{ role: 5 }]],
  },
  {
    path: '/v1/messages',
    base: { model: 'c', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] },
    field: 'messages',
    wrong: ['hi', 5, {}, [], [1], [{ role: 'user' }], [{ role: 'user', content: 5 }], [{ role: 'user', content: [{}] }], [{ role: 'user', content: [1] }], [{ role: 5, content: 'x' }]],
  },
  {
    path: '/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse',
    base: { messages: [{ role: 'user', content: [{ text: 'hi' }] }] },
    field: 'messages',
    wrong: ['hi', 5, {}, [], [1], [{ role: 'user' }], [{ role: 'user', content: 'hi' }], [{ role: 'user', content: [1] }]],
  },
  {
    path: '/model/x/converse-stream',
    base: { messages: [{ role: 'user', content: [{ text: 'hi' }] }], inferenceConfig: { maxTokens: 5 } },
    field: 'messages',
    wrong: [null, true, [{ role: 'user', content: {} }]],
  },
];

// Values that no schema field with a type accepts in the place they are put.
const HUGE_NUMBERS = ['1e400', '-1e400', '1e-400', '123456789012345678901234567890.5'];

function shapeOf(target: string): Shape {
  const path = target.split('?')[0] ?? '';
  if (path.endsWith('/converse') || path.endsWith('/converse-stream')) return 'bedrock';
  if (path.endsWith('/v1/messages')) return 'anthropic';
  return 'openai';
}

function generator(random: () => number) {
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(list: readonly T[]): T => list[int(list.length)] as T;
  const json = (headers: string[] = []) => ['Content-Type: application/json', ...headers];
  const endpoint = () => pick(endpoints);
  const text = (value: unknown) => Buffer.from(JSON.stringify(value));
  /** A valid body with `hole` (raw JSON text) at an extra field, the content or a tool schema. */
  const withRaw = (e: (typeof endpoints)[number], hole: string): Buffer => {
    const marker = '"__HOLE__"';
    const where = int(3);
    const body: Record<string, unknown> = structuredClone(e.base);
    if (where === 0) body['x_extra'] = '__HOLE__';
    else if (where === 1 && e.path.endsWith('/messages')) body['tools'] = [{ name: 'f', input_schema: { type: 'object', properties: { p: '__HOLE__' } } }];
    else if (where === 1) body['tools'] = [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { p: '__HOLE__' } } } }];
    else body['metadata'] = { note: '__HOLE__' };
    return Buffer.from(JSON.stringify(body).replace(marker, hole));
  };
  const randomJson = (depth: number): unknown => {
    const r = int(depth > 3 ? 4 : 7);
    if (r === 0) return random() < 0.5 ? int(1e9) - 5e8 : random() * 1e6;
    if (r === 1) return Array.from({ length: int(8) }, () => String.fromCharCode(32 + int(90))).join('');
    if (r === 2) return random() < 0.5 ? null : random() < 0.5;
    if (r === 3) return '';
    if (r <= 5) return Array.from({ length: int(4) }, () => randomJson(depth + 1));
    const out: Record<string, unknown> = {};
    for (let i = int(4); i > 0; i--) out[`k_${int(1000)}`] = randomJson(depth + 1);
    return out;
  };

  const kinds: Record<string, () => Case> = {
    'random JSON': () => {
      const e = endpoint();
      const top = random() < 0.5 ? Array.from({ length: int(4) }, () => randomJson(1)) : random() < 0.5 ? randomJson(4) : { k_top: randomJson(1) };
      return { kind: 'random JSON', target: e.path, headers: json(), body: text(top) };
    },
    'not JSON': () => {
      const garbage = pick(['{', '{"model":', '{"a":1,}', "{'a':1}", 'NaN', '{"a":undefined}', '[1,2', '', '\u0000{}', '{"a":1}{"b":2}']);
      return { kind: 'not JSON', target: endpoint().path, headers: json(), body: Buffer.from(garbage) };
    },
    'wrong types': () => {
      const e = endpoint();
      const body: Record<string, unknown> = { ...structuredClone(e.base), [e.field]: pick(e.wrong) };
      if (random() < 0.3) delete body[e.field];
      return { kind: 'wrong types', target: e.path, headers: json(), body: text(body) };
    },
    'wrong field types': () => {
      const e = pick(endpoints.slice(0, 4));
      const field = pick(e.path.endsWith('/embeddings') ? ['model', 'dimensions', 'encoding_format'] : ['model', 'stream', 'tools', 'max']);
      const body: Record<string, unknown> = structuredClone(e.base);
      if (field === 'model') body['model'] = pick([5, [], {}, true]);
      if (field === 'stream') body['stream'] = pick(['true', 1, {}, []]);
      if (field === 'tools') body['tools'] = pick([{}, 'x', [1], [null], ['f']]);
      if (field === 'dimensions') body['dimensions'] = pick([0, -3, 1.5, '256']);
      if (field === 'encoding_format') body['encoding_format'] = pick(['hex', 1, 'FLOAT']);
      if (field === 'max') body[e.path.endsWith('/responses') ? 'max_output_tokens' : 'max_tokens'] = pick([0, -1, 1.5, '5', true, {}]);
      return { kind: 'wrong field types', target: e.path, headers: json(), body: text(body) };
    },
    'deep nesting': () => {
      const e = endpoint();
      const depth = 129 + int(20_000);
      const deep = random() < 0.5 ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
      return { kind: 'deep nesting', target: e.path, headers: json(), body: withRaw(e, deep) };
    },
    'huge numbers': () => {
      const e = endpoint();
      const n = pick(HUGE_NUMBERS);
      const raw = JSON.stringify({ ...e.base, [e.field]: '__N__' }).replace('"__N__"', n);
      const maxTokens = e.path.endsWith('/messages') ? JSON.stringify({ ...e.base, max_tokens: '__N__' }).replace('"__N__"', n) : raw;
      return { kind: 'huge numbers', target: e.path, headers: json(), body: Buffer.from(random() < 0.5 ? raw : maxTokens) };
    },
    'huge arrays': () => {
      const e = endpoint();
      const length = 100_001 + int(20_000);
      return { kind: 'huge arrays', target: e.path, headers: json(), body: withRaw(e, `[${'0,'.repeat(length - 1)}0]`) };
    },
    'invalid UTF-8': () => {
      const e = endpoint();
      const bad = Buffer.from(pick([[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82], [0x80], [0xf4, 0x90, 0x80, 0x80]]));
      const [head, tail] = JSON.stringify(e.base).split('"hi"') as [string, string | undefined];
      const body = tail === undefined ? Buffer.concat([Buffer.from('{"x_extra":"'), bad, Buffer.from(`",${JSON.stringify(e.base).slice(1)}`)]) : Buffer.concat([Buffer.from(`${head}"h`), bad, Buffer.from(`i"${tail}`)]);
      return { kind: 'invalid UTF-8', target: e.path, headers: json(), body };
    },
    'lone surrogates': () => {
      const e = endpoint();
      const lone = pick(['\\ud800', '\\udfff', '\\ud83dx', '\\ude00\\ud83d', '\\uD83D\\u0041', 'a\\udbff']);
      return { kind: 'lone surrogates', target: e.path, headers: json(), body: withRaw(e, `"${lone}"`) };
    },
    'odd paths': () => {
      const target = pick([
        '/v1/../v1/chat/completions', '/v1/%2e%2e/chat/completions', '/v1/.%2E/chat/completions', '/v1/./chat/completions',
        '/v1/chat/completions%00', '/v1/chat%0d%0aX-Evil:%201/completions', '/v1\\chat\\completions', '/v1/%5cchat/completions',
        '/v1/chat/completions#x', '/model/%2e%2e/converse', '/model/x/%2E/converse-stream', '/v1/%252e%252e/messages',
        '//evil.example/v1/chat/completions', '/v1/chat%zz/completions', '/v1/x/..%2f..%2fv1/embeddings', '/v1/%2E./responses',
        '/v1/chat/completions?x=%0a', 'http://evil.example/v1/chat/completions',
      ]);
      const e = endpoint();
      return { kind: 'odd paths', target, headers: json(), body: text(e.base) };
    },
    'odd encodings': () => {
      const e = endpoint();
      const valid = text(e.base);
      const gz = gzipSync(valid);
      const variant = pick([
        ['Content-Encoding: zstd', valid], ['Content-Encoding: compress', valid], ['Content-Encoding: gzip, br', gz],
        ['Content-Encoding: x-unknown', valid], ['Content-Encoding: gzip', valid], ['Content-Encoding: deflate', gz],
        ['Content-Encoding: br', Buffer.from('not brotli at all')], ['Content-Encoding: gzip', gz.subarray(0, gz.length - 8)],
        ['Content-Encoding: gzip', BOMB], ['Content-Type: text/plain', valid], ['Content-Type: application/xml', valid],
        ['Content-Type: multipart/form-data; boundary=x', valid], ['Content-Type: application/json; charset=utf-16', Buffer.from(JSON.stringify(e.base), 'utf16le')],
      ] as const);
      const headers = variant[0].startsWith('Content-Type') ? [variant[0]] : json([variant[0]]);
      return { kind: 'odd encodings', target: e.path, headers, body: Buffer.from(variant[1]) };
    },
    'header injection': () => {
      // The body is refused too, so an injection that got past the HTTP parser still goes nowhere.
      const e = endpoint();
      const header = pick([
        'X-Custom: a\nX-Injected: 1', 'X-Custom: a\r\n folded', 'X-Custom: a\u0000b', 'Transfer-Encoding: chunked',
        'Content-Length: 1\r\nContent-Length: 2', 'X Bad Name: 1', 'X-Forwarded-Host: evil.example', 'Host: evil.example',
        'X-Request-Id: ' + 'r'.repeat(4000), 'Authorization: Bearer client-key', 'Content-Encoding: gzip\r\nContent-Encoding: br',
      ]);
      return { kind: 'header injection', target: e.path, headers: json([header]), body: text({ ...e.base, [e.field]: pick(e.wrong) }) };
    },
  };
  const names = Object.keys(kinds);
  return (): Case => (kinds[pick(names)] as () => Case)();
}

// Ten times the body limit once inflated, from a few KiB on the wire.
const BOMB = gzipSync(Buffer.alloc(10 * LIMIT));

function fdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

const collectGarbage: () => void =
  (globalThis as { gc?: () => void }).gc ??
  (() => {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  })();

function problemWith(res: RawResponse, c: Case): string | undefined {
  if (res.status < 400 || res.status > 499) return `status ${res.status}`;
  const body = res.json as Record<string, unknown> | undefined;
  const shape = shapeOf(c.target);
  if (shape === 'bedrock') {
    if (typeof body?.['message'] !== 'string') return `not a Bedrock error: ${res.text.slice(0, 200)}`;
    if (!res.headers['x-amzn-errortype']) return 'no x-amzn-errortype';
  } else if (shape === 'anthropic') {
    const error = body?.['error'] as Record<string, unknown> | undefined;
    if (body?.['type'] !== 'error' || typeof error?.['message'] !== 'string') return `not an Anthropic error: ${res.text.slice(0, 200)}`;
  } else {
    const error = body?.['error'] as Record<string, unknown> | undefined;
    if (typeof error?.['message'] !== 'string' || typeof error['type'] !== 'string') return `not an OpenAI error: ${res.text.slice(0, 200)}`;
  }
  return undefined;
}

describe('hostile input', function () {
  this.timeout(120_000);
  let up: FakeOpenAI;
  let gw: TestGateway;
  let port: number;

  before(async () => {
    up = await startFakeOpenAI({ name: 'up' });
    const plugin = { 'ai-proxy-multi': { max_req_body_size: LIMIT, instances: [instance('up', up.url)] } };
    gw = await startGateway({
      server: { host: '127.0.0.1', port: 0 },
      admin: false,
      routes: [{ id: 'all', uri: '/*', plugins: plugin }],
    });
    port = Number(new URL(gw.url).port);
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  it(`refuses ${CASES} generated hostile requests before any upstream call and comes out unchanged (seed ${SEED})`, async () => {
    console.log(`      hostile-input seed ${SEED} (FUZZ_SEED=${SEED} reproduces it)`);
    const next = generator(prng(SEED));
    const send = (c: Case) => rawRequest(port, [`POST ${c.target} HTTP/1.1`, 'Host: 127.0.0.1', ...c.headers].join('\r\n'), c.body);
    // Warm up (lazy modules, pools, JIT) before the baseline.
    for (let i = 0; i < 20; i++) await send(next());
    collectGarbage();
    const baseline = { rss: process.memoryUsage().rss, heap: process.memoryUsage().heapUsed, fds: fdCount() };

    const failures: string[] = [];
    const kinds = new Map<string, number>();
    for (let done = 0; done < CASES; done += 8) {
      const batch = Array.from({ length: Math.min(8, CASES - done) }, () => next());
      const answers = await Promise.all(batch.map(send));
      batch.forEach((c, i) => {
        kinds.set(c.kind, (kinds.get(c.kind) ?? 0) + 1);
        const problem = problemWith(answers[i] as RawResponse, c);
        if (problem) failures.push(`${c.kind} POST ${c.target.slice(0, 80)} [${c.headers.join(' | ').slice(0, 120)}] ${c.body.subarray(0, 120).toString('latin1')}: ${problem}`);
      });
    }
    assert.deepEqual(failures, [], `seed ${SEED}`);
    assert.equal(up.calls(), 0, `seed ${SEED}: a hostile request reached the provider`);
    assert.ok(kinds.size >= 10, `seed ${SEED}: only ${[...kinds.keys()].join(', ')} were generated`);

    for (const route of gw.gateway.routes) {
      for (const [name, inst] of route.instances) assert.equal(inst.breaker.snapshot().state, 'closed', `breaker of ${name}`);
    }
    // The process is up and still serves.
    const ok = await postJson(`${gw.url}/v1/chat/completions`, { model: 'm', messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(ok.status, 200);

    let fds = fdCount();
    for (let i = 0; i < 50 && fds > baseline.fds + 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      fds = fdCount();
    }
    assert.ok(fds <= baseline.fds + 4, `open fds went from ${baseline.fds} to ${fds}`);
    collectGarbage();
    const after = process.memoryUsage();
    const mib = (n: number) => Math.round(n / 1048576);
    assert.ok(after.heapUsed - baseline.heap < 32 * 1048576, `heap grew by ${mib(after.heapUsed - baseline.heap)} MiB`);
    assert.ok(after.rss - baseline.rss < 150 * 1048576, `rss grew by ${mib(after.rss - baseline.rss)} MiB`);
  });
});

describe("the instance's auth.query", () => {
  let up: FakeOpenAI;
  let gw: TestGateway;

  before(async () => {
    up = await startFakeOpenAI({ name: 'up' });
    const gemini = instance('g', up.url, { auth: { query: { key: 'instance-key' } } });
    gw = await startGateway({
      server: { host: '127.0.0.1', port: 0 },
      admin: false,
      routes: [{ id: 'g', uri: '/v1beta/*', plugins: { 'ai-proxy-multi': { instances: [gemini] } } }],
    });
  });
  after(async () => {
    await gw.close();
    await up.close();
  });

  it("replaces the client's own ?key= on a Gemini-style passthrough, however it is spelled", async () => {
    for (const query of ['key=client-key', 'KEY=client-key&alt=sse', '%6Bey=client-key&alt=sse&key=second']) {
      up.reset();
      // countTokens is passed through (generateContent is a protocol the gateway speaks, paths built anew).
      await postJson(`${gw.url}/v1beta/models/gemini:countTokens?${query}`, { contents: [] });
      const url = up.requests[0]?.url ?? '';
      assert.equal(new URLSearchParams(url.split('?')[1]).getAll('key').join(','), 'instance-key', url);
      assert.doesNotMatch(url, /client-key|second/i);
    }
  });
});
