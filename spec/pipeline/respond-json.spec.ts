import assert from 'node:assert/strict';
import type { UpstreamCall } from '../../lib/pipeline/build-request.ts';
import type { Plan } from '../../lib/pipeline/plan.ts';
import { respondJson } from '../../lib/pipeline/respond-json.ts';
import type { JsonAnswer } from '../../lib/pipeline/respond-json.ts';
import { postJson } from '../support/gateway-harness.ts';
import { NOTHING_WRITTEN, buildRoute, startFront } from '../support/pipeline-harness.ts';
import type { Front, TestRoute } from '../support/pipeline-harness.ts';

// respondJson on a real response: the upstream answer is given, the client reads what was sent.

interface Upstream {
  instance: 'openai' | 'claude' | 'vertex';
  status: number;
  headers: Record<string, string>;
  payload: Buffer | string;
  plan?: (plan: Plan) => Plan;
}

let test: TestRoute;
let front: Front;
let upstream: Upstream;
let answered: ((a: JsonAnswer) => void) | undefined;

describe('respondJson', () => {
  before(async () => {
    const endpoint = 'http://127.0.0.1:9'; // never called: respondJson is handed the upstream answer
    test = buildRoute({
      instances: [
        { name: 'openai', provider: 'openai', auth: { header: { Authorization: 'Bearer sk-openai-key-0123456' } }, override: { endpoint } },
        { name: 'claude', provider: 'anthropic', auth: { header: { 'x-api-key': 'sk-ant-key-0123456789' } }, override: { endpoint } },
        { name: 'vertex', provider: 'vertex-ai', auth: { header: { Authorization: 'Bearer ya29.token-0123456' } }, override: { endpoint } },
      ],
    });
    front = await startFront(test, async (ctx) => {
      const instance = test.instance(upstream.instance);
      const native = instance.plans.get(ctx.protocol.name);
      assert.ok(native, `${upstream.instance} serves ${ctx.protocol.name}`);
      const plan = upstream.plan ? upstream.plan(native) : native;
      const call: UpstreamCall = {
        instance: instance.name,
        method: 'POST',
        path: '/',
        headers: {},
        body: Buffer.alloc(0),
        dropUsageEvents: false,
        model: 'sent-model',
        conversion: { model: 'sent-model', stream: false },
      };
      const payload = typeof upstream.payload === 'string' ? Buffer.from(upstream.payload, 'utf8') : upstream.payload;
      const answer = respondJson(ctx, plan, call, upstream.status, upstream.headers, payload);
      if (!ctx.res.headersSent) {
        ctx.res.writeHead(NOTHING_WRITTEN);
        ctx.res.end();
      }
      answered?.(answer);
    });
  });
  after(async () => {
    await front.close();
    await test.close();
  });

  async function respond(path: string, body: unknown, up: Upstream) {
    upstream = up;
    const answer = new Promise<JsonAnswer>((resolve) => (answered = resolve));
    const res = await postJson(`${front.url}${path}`, body);
    return { res, answer: await answer };
  }

  const chatRequest = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
  const anthropicAnswer = {
    id: 'msg_1',
    type: 'message',
    role: 'assistant',
    model: 'claude-upstream',
    content: [{ type: 'text', text: 'Bonjour' }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 10, output_tokens: 3 },
  };
  const predictAnswer = {
    predictions: [
      { embeddings: { values: [0.5, -1.25, 3], statistics: { token_count: 4, truncated: false } } },
      { embeddings: { values: [1, 2, 0.125], statistics: { token_count: 2, truncated: false } } },
    ],
  };

  it('forwards a native answer byte for byte with only the relayable headers', async () => {
    const bytes = Buffer.from('{ "id" : "c1",\n  "model":"gpt-up", "choices":[{"index":0,"message":{"role":"assistant","content":"Grüße 世界"},"finish_reason":"stop"}],\n"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7} }', 'utf8');
    const { res, answer } = await respond('/v1/chat/completions', chatRequest, {
      instance: 'openai',
      status: 200,
      headers: { 'content-type': 'application/json; charset=utf-8', 'x-request-id': 'req-9', 'x-ratelimit-remaining-requests': '99', 'set-cookie': 'session=1', 'content-length': '1' },
      payload: bytes,
    });
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(res.text, 'utf8'), bytes);
    assert.equal(res.headers.get('content-length'), String(bytes.length));
    assert.equal(res.headers.get('x-request-id'), 'req-9');
    assert.equal(res.headers.get('x-ratelimit-remaining-requests'), '99');
    assert.equal(res.headers.get('set-cookie'), null);
    assert.equal(answer.error, undefined);
    assert.deepEqual(answer.usage, { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 });
    assert.equal(answer.model, 'gpt-up');
    assert.equal(answer.text, 'Grüße 世界');
  });

  it('forwards a native answer that is not JSON as it is: nothing to convert, nothing to count', async () => {
    const { res, answer } = await respond('/v1/chat/completions', chatRequest, { instance: 'openai', status: 200, headers: { 'content-type': 'text/plain' }, payload: 'plain words' });
    assert.equal(res.status, 200);
    assert.equal(res.text, 'plain words');
    assert.equal(answer.error, undefined);
    assert.equal(answer.usage, undefined);
  });

  it("converts an answer to the client's protocol and counts the upstream's usage", async () => {
    const { res, answer } = await respond('/v1/chat/completions', chatRequest, {
      instance: 'claude',
      status: 200,
      headers: { 'content-type': 'application/json', 'request-id': 'req_ant' },
      payload: JSON.stringify(anthropicAnswer),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.equal(res.headers.get('request-id'), 'req_ant');
    const body = res.json as { object: string; choices: Array<{ message: { content: string }; finish_reason: string }>; usage: Record<string, number> };
    assert.equal(body.object, 'chat.completion');
    assert.equal(body.choices[0]?.message.content, 'Bonjour');
    assert.equal(body.choices[0]?.finish_reason, 'stop');
    assert.equal(body.usage['prompt_tokens'], 10);
    assert.equal(body.usage['completion_tokens'], 3);
    assert.deepEqual(answer.usage, { prompt_tokens: 10, completion_tokens: 3, total_tokens: 13 });
    assert.equal(answer.model, 'claude-upstream');
    assert.equal(answer.text, 'Bonjour');
  });

  const notObjects: Array<[string, string]> = [
    ['HTML', '<html><body>502 Bad Gateway</body></html>'],
    ['a JSON array', '[1,2,3]'],
    ['truncated JSON', '{"id":"msg_1","content":[{"type":"te'],
  ];
  for (const [what, payload] of notObjects) {
    it(`treats ${what} from a converting instance as that instance's failure and sends nothing`, async () => {
      const { res, answer } = await respond('/v1/chat/completions', chatRequest, { instance: 'claude', status: 200, headers: { 'content-type': 'application/json' }, payload });
      assert.equal(res.status, NOTHING_WRITTEN);
      assert.equal(answer.error?.code, 'UPSTREAM_STREAM');
      assert.equal(answer.error.status, 502);
      assert.match(answer.error.message, /instance claude answered 200 with a body that is not a JSON object/);
    });
  }

  it('reports a converter that throws on a well-formed answer as an InternalError and sends nothing', async () => {
    const { res, answer } = await respond('/v1/chat/completions', chatRequest, {
      instance: 'claude',
      status: 200,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(anthropicAnswer),
      plan: (plan) => {
        const converter = plan.converter;
        assert.ok(converter);
        return { ...plan, converter: { ...converter, response: () => { throw new TypeError('converter bug'); } } };
      },
    });
    assert.equal(res.status, NOTHING_WRITTEN);
    assert.equal(answer.error?.code, 'INTERNAL_ERROR');
    assert.equal(answer.error.status, 500);
    assert.match(answer.error.message, /the answer of instance claude could not be converted to openai-chat/);
  });

  for (const format of ['base64', 'float', undefined] as const) {
    it(`finishes converted embeddings for encoding_format ${String(format)}`, async () => {
      const { res, answer } = await respond('/v1/embeddings', { model: 'text-embedding-005', input: ['a', 'b'], ...(format && { encoding_format: format }) }, {
        instance: 'vertex',
        status: 200,
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify(predictAnswer),
      });
      assert.equal(res.status, 200);
      const body = res.json as { object: string; data: Array<{ index: number; embedding: unknown }>; usage: { prompt_tokens: number } };
      assert.equal(body.object, 'list');
      const vectors = body.data.map((d) => {
        if (format !== 'base64') return d.embedding;
        assert.equal(typeof d.embedding, 'string');
        const raw = Buffer.from(d.embedding as string, 'base64');
        return Array.from({ length: raw.length / 4 }, (_, i) => raw.readFloatLE(i * 4));
      });
      assert.deepEqual(vectors, [[0.5, -1.25, 3], [1, 2, 0.125]]);
      assert.equal(body.usage.prompt_tokens, 6);
      assert.equal(answer.usage?.prompt_tokens, 6);
    });
  }

  it("reports a :predict answer without predictions as the instance's malformed answer, not the gateway's bug", async () => {
    // The converter says what is wrong with the answer (UPSTREAM_MALFORMED): the instance's fault,
    // counted and retried like a broken stream, never a 500 from the gateway.
    const { res, answer } = await respond('/v1/embeddings', { model: 'text-embedding-005', input: 'a' }, {
      instance: 'vertex',
      status: 200,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ deployedModelId: '1' }),
    });
    assert.equal(res.status, NOTHING_WRITTEN);
    assert.equal(answer.error?.code, 'UPSTREAM_MALFORMED');
    assert.equal(answer.error?.status, 502);
    assert.match(answer.error?.message ?? '', /malformed :predict response/);
  });
});
