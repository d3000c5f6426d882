import assert from 'node:assert/strict';
import { GatewayError } from '../../lib/errors.ts';
import { parseJsonBody } from '../../lib/http/parse-json-body.ts';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { chatBody, instance, postJson, startGateway } from '../support/gateway-harness.ts';

const limits = { maxDepth: 128, maxArrayLength: 100_000 };

function refusal(raw: Buffer | string, l = limits): GatewayError | undefined {
  try {
    parseJsonBody(typeof raw === 'string' ? Buffer.from(raw) : raw, l);
    return undefined;
  } catch (err) {
    assert.ok(err instanceof GatewayError, `not a GatewayError: ${String(err)}`);
    assert.equal(err.status, 400);
    return err;
  }
}

const nested = (depth: number, leaf = '1') => '['.repeat(depth) + leaf + ']'.repeat(depth);

describe('parseJsonBody', () => {
  it('parses an ordinary body', () => {
    assert.deepEqual(parseJsonBody(Buffer.from('{"a":[1,{"b":"é"}]}'), limits), { a: [1, { b: 'é' }] });
  });

  it('takes nesting up to max_json_depth and refuses one level more, naming the limit', () => {
    assert.doesNotThrow(() => parseJsonBody(Buffer.from(nested(128)), limits));
    const err = refusal(nested(129));
    assert.equal(err?.code, 'JSON_LIMIT_EXCEEDED');
    assert.match(err?.message ?? '', /deeper than 128 levels \(server\.max_json_depth\)/);
    assert.equal(refusal('{"a":{"b":{"c":1}}}', { maxDepth: 3, maxArrayLength: 10 }), undefined);
    assert.match(refusal('{"a":{"b":{"c":{}}}}', { maxDepth: 3, maxArrayLength: 10 })?.message ?? '', /deeper than 3/);
  });

  it('refuses a body nested 100,000 deep with a 400, not a stack overflow', () => {
    const deepObject = '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000);
    assert.equal(refusal(deepObject)?.code, 'JSON_LIMIT_EXCEEDED');
    const tools = `{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":${nested(10_000, '{}')}}}]}`;
    assert.equal(refusal(tools)?.code, 'JSON_LIMIT_EXCEEDED');
  });

  it('refuses an array longer than max_json_array_length, naming the limit', () => {
    assert.equal(refusal(`[${Array(10).fill(0).join(',')}]`, { maxDepth: 5, maxArrayLength: 10 }), undefined);
    const err = refusal(`{"x":[[${Array(11).fill(0).join(',')}]]}`, { maxDepth: 5, maxArrayLength: 10 });
    assert.equal(err?.code, 'JSON_LIMIT_EXCEEDED');
    assert.match(err?.message ?? '', /11 elements, more than 10 \(server\.max_json_array_length\)/);
  });

  it('refuses invalid UTF-8 instead of replacing it with U+FFFD', () => {
    for (const bytes of [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xc0, 0xae]]) {
      const raw = Buffer.concat([Buffer.from('{"content":"'), Buffer.from(bytes), Buffer.from('"}')]);
      const err = refusal(raw);
      assert.equal(err?.code, 'INVALID_JSON', `bytes ${bytes.join(',')}`);
      assert.match(err?.message ?? '', /not valid UTF-8/);
    }
  });

  it('refuses lone surrogate escapes and accepts escaped pairs', () => {
    for (const text of ['"\\ud800"', '"\\uDC00"', '"x\\ud83d"', '"\\ud83d\\u0041"', '"\\ud83d \\ude00"', '{"\\udfff":1}', '"\\ud83d\\ud83d\\ude00"']) {
      assert.match(refusal(`{"v":${text}}`)?.message ?? 'accepted', /lone UTF-16 surrogate/, text);
    }
    assert.equal(refusal('{"v":"\\ud83d\\ude00 and \\uD83D\\uDE00"}'), undefined, 'an escaped emoji (Python json.dumps) passes');
    assert.equal(refusal('{"v":"\\\\ud800"}'), undefined, 'an escaped backslash followed by ud800 is plain text');
    assert.equal(refusal('{"v":"\\\\\\ud83d\\ude00"}'), undefined);
    assert.equal(refusal('{"v":"😀"}'), undefined);
  });

  it('reports malformed JSON as such, a leading BOM included', () => {
    assert.match(refusal('{"a":')?.message ?? '', /not valid JSON/);
    assert.match(refusal('\ufeff{"a":1}')?.message ?? '', /not valid JSON/);
  });
});

describe('JSON bounds through the gateway', () => {
  let up: FakeOpenAI;
  let gw: TestGateway;

  before(async () => {
    up = await startFakeOpenAI({ name: 'up' });
    gw = await startGateway({
      server: { host: '127.0.0.1', port: 0, max_json_depth: 16, max_json_array_length: 50 },
      admin: false,
      routes: [
        { id: 'r1', uris: ['/v1/*'], plugins: { 'ai-proxy-multi': { instances: [instance('up', up.url)] } } },
      ],
    });
  });
  after(async () => {
    await gw.close();
    await up.close();
  });
  beforeEach(() => up.reset());

  it('refuses deep tool parameters and Anthropic input_schema with 400 in the client shape, leaving the breaker closed', async () => {
    const parameters = `{"type":"object","properties":{"x":${nested(10_000, '{}')}}}`;
    const chat = await postJson(`${gw.url}/v1/chat/completions`, `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":${parameters}}}]}`);
    assert.equal(chat.status, 400);
    assert.match((chat.json as { error: { message: string } }).error.message, /server\.max_json_depth/);
    const claude = await postJson(`${gw.url}/v1/messages`, `{"model":"c","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","input_schema":${nested(10_000, '{}')}}]}`);
    assert.equal(claude.status, 400);
    assert.equal((claude.json as { type: string }).type, 'error');
    assert.match((claude.json as { error: { message: string } }).error.message, /server\.max_json_depth/);
    assert.equal(up.calls(), 0);
    for (const route of gw.gateway.routes) for (const inst of route.instances.values()) assert.equal(inst.breaker.snapshot().state, 'closed');
  });

  it('refuses an array over server.max_json_array_length', async () => {
    const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody({ stop: Array(51).fill('x') }));
    assert.equal(res.status, 400);
    assert.match((res.json as { error: { message: string } }).error.message, /server\.max_json_array_length/);
    assert.equal(up.calls(), 0);
  });

  it('refuses invalid UTF-8 and a lone surrogate before any upstream call', async () => {
    const bad = Buffer.concat([Buffer.from('{"model":"m","messages":[{"role":"user","content":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}]}')]);
    const utf8 = await fetch(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bad });
    assert.equal(utf8.status, 400);
    assert.match(((await utf8.json()) as { error: { message: string } }).error.message, /UTF-8/);
    const lone = await postJson(`${gw.url}/v1/chat/completions`, '{"model":"m","messages":[{"role":"user","content":"\\ud800"}]}');
    assert.equal(lone.status, 400);
    assert.equal(up.calls(), 0);
    const emoji = await postJson(`${gw.url}/v1/chat/completions`, '{"model":"m","messages":[{"role":"user","content":"\\ud83d\\ude00"}]}');
    assert.equal(emoji.status, 200);
  });
});
