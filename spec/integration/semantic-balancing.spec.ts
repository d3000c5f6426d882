import assert from 'node:assert/strict';
import type { TestGateway } from '../support/gateway-harness.ts';
import { instance, postJson, routeConfig, startGateway } from '../support/gateway-harness.ts';
import type { RawUpstream } from '../support/raw-upstream.ts';
import { chatCompletion, startRawUpstream } from '../support/raw-upstream.ts';
import { loadConfigText } from '../../lib/load-config.ts';

// A fake embeddings endpoint whose vectors leave no doubt: text about code points along x, about the
// weather along y, anything else along z. `general` has no examples and by far the largest weight, so
// a weighted pick lands on it and a semantic one visibly does not.

const EMBED_KEY = 'sk-embeddings-secret-key-987654';

function vectorOf(text: string): number[] {
  if (/bug/i.test(text)) return [1, 0.3, 0];
  if (/code|python/i.test(text)) return [1, 0.05, 0];
  if (/rain|weather|sunny/i.test(text)) return [0.05, 1, 0];
  return [0, 0, 1];
}

interface FakeEmbeddings extends RawUpstream {
  /** The `input` of every call, in order. */
  inputs: string[][];
}

async function startEmbeddings(behave: (call: number) => 'ok' | 'error' | 'hang' = () => 'ok'): Promise<FakeEmbeddings> {
  const inputs: string[][] = [];
  const up = await startRawUpstream((req, res, body) => {
    const json = JSON.parse(body.toString()) as { model: string; input: string[] };
    inputs.push(json.input);
    const mode = behave(inputs.length);
    if (mode === 'hang') return;
    if (mode === 'error' || req.headers.authorization !== `Bearer ${EMBED_KEY}` || json.model !== 'embed-small') {
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"boom"}}');
      return;
    }
    // Shuffled order with `index`: the gateway must put vectors back in input order.
    const data = json.input.map((text, index) => ({ object: 'embedding', index, embedding: vectorOf(text) })).reverse();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ object: 'list', data, model: 'embed-small' }));
  });
  return Object.assign(up, { inputs });
}

/** An instance upstream that names itself in every answer, whichever protocol reaches it. */
async function startNamed(name: string, status = 200): Promise<RawUpstream> {
  return startRawUpstream((req, res) => {
    if (status !== 200) return void res.writeHead(status, { 'content-type': 'application/json' }).end('{"error":{"message":"down"}}');
    if ((req.url ?? '').includes('embeddings')) {
      return void res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1] }], model: name, usage: { prompt_tokens: 1, total_tokens: 1 } }));
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(chatCompletion(`from ${name}`));
  });
}

function semanticRoute(urls: Record<string, string>, embeddingsUrl: string, opts: Record<string, unknown> = {}, more: Record<string, unknown> = {}): Record<string, unknown> {
  return routeConfig({
    balancer: { algorithm: 'semantic' },
    semantic_opts: {
      embeddings: { provider: 'openai', model: 'embed-small', endpoint: `${embeddingsUrl}/v1/embeddings`, auth: { header: { Authorization: `Bearer ${EMBED_KEY}` } }, timeout: 400 },
      threshold: 0.5,
      debugging: true,
      ...opts,
    },
    instances: [
      instance('coder', urls['coder']!, { examples: ['write python code', 'fix this bug in my code'] }),
      instance('meteo', urls['meteo']!, { examples: ['will it rain tomorrow', 'weather forecast please'], threshold: 0.6 }),
      instance('general', urls['general']!, { weight: 1000 }),
    ],
    ...more,
  });
}

describe('semantic balancing (balancer.algorithm "semantic")', function () {
  this.timeout(15_000);
  let gw: TestGateway | undefined;
  let ups: RawUpstream[] = [];
  let embeddings: FakeEmbeddings | undefined;
  afterEach(async () => {
    await gw?.close();
    for (const u of ups) await u.close();
    await embeddings?.close();
    gw = embeddings = undefined;
    ups = [];
  });

  async function three(statuses: Record<string, number> = {}): Promise<Record<string, string>> {
    const urls: Record<string, string> = {};
    for (const name of ['coder', 'meteo', 'general']) {
      const up = await startNamed(name, statuses[name]);
      ups.push(up);
      urls[name] = up.url;
    }
    return urls;
  }

  it('sends each client protocol to the instance whose examples match its last user text', async () => {
    embeddings = await startEmbeddings();
    gw = await startGateway(semanticRoute(await three(), embeddings.url));
    const chat = await postJson(`${gw.url}/v1/chat/completions`, {
      model: 'm',
      messages: [
        { role: 'user', content: 'will it rain?' },
        { role: 'assistant', content: 'maybe' },
        { role: 'user', content: [{ type: 'text', text: 'now fix my python code' }] },
      ],
    });
    assert.match(chat.text, /from coder/);
    assert.match(chat.headers.get('x-ai-proxy-semantic') ?? '', /^instance coder; best coder (0\.99|1\.00)\d*$/);

    const anthropic = await postJson(`${gw.url}/v1/messages`, { model: 'm', max_tokens: 10, messages: [{ role: 'user', content: 'is it sunny in Paris' }] });
    assert.equal(anthropic.status, 200, anthropic.text);
    assert.match(anthropic.text, /from meteo/);

    const responses = await postJson(`${gw.url}/v1/responses`, { model: 'm', input: [{ role: 'user', content: [{ type: 'input_text', text: 'weather tomorrow' }] }] });
    assert.equal(responses.status, 200, responses.text);
    assert.match(responses.text, /from meteo/);

    const embedded = await postJson(`${gw.url}/v1/embeddings`, { model: 'm', input: ['hello', 'a bug in my code'] });
    assert.equal(embedded.status, 200, embedded.text);
    assert.equal((embedded.json as { model: string }).model, 'coder');
  });

  it('embeds all examples once, in one batch, then one input per request', async () => {
    embeddings = await startEmbeddings();
    gw = await startGateway(semanticRoute(await three(), embeddings.url));
    for (let i = 0; i < 3; i += 1) await postJson(`${gw.url}/v1/chat/completions`, { model: 'm', messages: [{ role: 'user', content: `python code ${i}` }] });
    assert.deepEqual(embeddings.inputs[0], ['write python code', 'fix this bug in my code', 'will it rain tomorrow', 'weather forecast please']);
    assert.deepEqual(embeddings.inputs.slice(1), [['python code 0'], ['python code 1'], ['python code 2']]);
  });

  it('below every threshold the request goes to semantic_opts.fallback, or to the weighted pick without one', async () => {
    embeddings = await startEmbeddings();
    const urls = await three();
    gw = await startGateway(semanticRoute(urls, embeddings.url, { fallback: 'meteo' }));
    const res = await postJson(`${gw.url}/v1/chat/completions`, { model: 'm', messages: [{ role: 'user', content: 'tell me a story' }] });
    assert.match(res.text, /from meteo/);
    assert.match(res.headers.get('x-ai-proxy-semantic') ?? '', /no instance above its threshold.*fallback meteo/);
    await gw.close();
    gw = await startGateway(semanticRoute(urls, embeddings.url));
    const weighted = await postJson(`${gw.url}/v1/chat/completions`, { model: 'm', messages: [{ role: 'user', content: 'tell me a story' }] });
    assert.match(weighted.text, /from general/);
  });

  it('an instance threshold above the best score sends the request elsewhere', async () => {
    embeddings = await startEmbeddings();
    const urls = await three();
    const cfg = semanticRoute(urls, embeddings.url);
    const plugin = (cfg['routes'] as Array<{ plugins: Record<string, { instances: Array<Record<string, unknown>> }> }>)[0]!.plugins['ai-proxy-multi']!;
    plugin.instances[0]!['examples'] = ['a bug'];
    plugin.instances[0]!['threshold'] = 0.99;
    gw = await startGateway(cfg);
    const res = await postJson(`${gw.url}/v1/chat/completions`, { model: 'm', messages: [{ role: 'user', content: 'python code' }] });
    assert.match(res.text, /from general/);
  });

  it('falls back to another instance when the chosen one fails', async () => {
    embeddings = await startEmbeddings();
    gw = await startGateway(semanticRoute(await three({ coder: 503 }), embeddings.url));
    const res = await postJson(`${gw.url}/v1/chat/completions`, { model: 'm', messages: [{ role: 'user', content: 'python code' }] });
    assert.equal(res.status, 200);
    const attempts = gw.access()[0]?.['attempts'] as Array<{ instance: string; status: number }>;
    assert.equal(attempts[0]?.instance, 'coder');
    assert.equal(attempts[0]?.status, 503);
    assert.equal(attempts.length, 2);
  });

  it('an embeddings outage at load: requests are balanced by weight with a warning, never failed', async () => {
    embeddings = await startEmbeddings(() => 'error');
    gw = await startGateway(semanticRoute(await three(), embeddings.url));
    const res = await postJson(`${gw.url}/v1/chat/completions`, { model: 'm', messages: [{ role: 'user', content: 'python code' }] });
    assert.equal(res.status, 200);
    assert.match(res.text, /from general/);
    assert.match(res.headers.get('x-ai-proxy-semantic') ?? '', /examples not embedded; weighted pick/);
    const warn = gw.logs.find((l) => /could not embed the examples/.test(String(l['msg'])));
    assert.ok(warn, 'a warning says the examples could not be embedded');
    assert.match(String(warn['msg']), /HTTP 500/);
    assert.doesNotMatch(JSON.stringify(gw.logs), new RegExp(EMBED_KEY));
  });

  it('an embeddings call slower than its timeout: the request goes by weight after the timeout, with a warning', async () => {
    embeddings = await startEmbeddings((call) => (call === 1 ? 'ok' : 'hang'));
    gw = await startGateway(semanticRoute(await three(), embeddings.url));
    const started = performance.now();
    const res = await postJson(`${gw.url}/v1/chat/completions`, { model: 'm', messages: [{ role: 'user', content: 'python code' }] });
    const took = performance.now() - started;
    assert.equal(res.status, 200);
    assert.match(res.text, /from general/);
    assert.ok(took >= 380 && took < 3000, `took ${took} ms`);
    assert.ok(gw.logs.some((l) => /could not embed the request.*longer than 400 ms/.test(String(l['msg']))));
    assert.doesNotMatch(JSON.stringify(gw.logs) + JSON.stringify([...res.headers]), new RegExp(EMBED_KEY));
  });

  it('embeds the examples again on reload', async () => {
    embeddings = await startEmbeddings();
    const urls = await three();
    gw = await startGateway(semanticRoute(urls, embeddings.url));
    await postJson(`${gw.url}/v1/chat/completions`, { model: 'm', messages: [{ role: 'user', content: 'python code' }] });
    const next = semanticRoute(urls, embeddings.url);
    const plugin = (next['routes'] as Array<{ plugins: Record<string, { instances: Array<Record<string, unknown>> }> }>)[0]!.plugins['ai-proxy-multi']!;
    plugin.instances[2]!['examples'] = ['tell me a story'];
    const result = await gw.gateway.reload(loadConfigText(JSON.stringify(next), {}));
    assert.equal(result.applied, true);
    const res = await postJson(`${gw.url}/v1/chat/completions`, { model: 'm', messages: [{ role: 'user', content: 'a story please' }] });
    assert.match(res.text, /from general/);
    assert.match(res.headers.get('x-ai-proxy-semantic') ?? '', /^instance general/);
    assert.ok(embeddings.inputs.some((i) => i.includes('tell me a story') && i.length === 5), 'the new examples were embedded');
  });

  describe('config', () => {
    const base = (plugin: Record<string, unknown>): string =>
      JSON.stringify(
        routeConfig({
          balancer: { algorithm: 'semantic' },
          instances: [instance('a', 'http://127.0.0.1:1', { examples: ['x'] }), instance('b', 'http://127.0.0.1:2')],
          semantic_opts: { embeddings: { provider: 'openai', model: 'e' } },
          ...plugin,
        }),
      );
    const at = '/routes/0/plugins/ai-proxy-multi';
    const refused = (plugin: Record<string, unknown>, path: RegExp): void => {
      assert.throws(() => loadConfigText(base(plugin), {}), (err: Error) => {
        assert.match(err.message, path);
        return true;
      });
    };

    it('accepts the APISIX fields', () => {
      const cfg = loadConfigText(base({ semantic_opts: { embeddings: { provider: 'azure-openai', model: 'e', endpoint: 'https://x.openai.azure.com/openai/deployments/e/embeddings?api-version=2024-02-01', auth: { header: { 'api-key': 'k' } }, timeout: 1000, ssl_verify: false }, threshold: -0.5, fallback: 'b', debugging: true } }), {});
      const plugin = cfg.routes[0]!.plugin;
      assert.equal(plugin.balancer.algorithm, 'semantic');
      assert.equal(plugin.semantic?.fallback, 'b');
      assert.equal(plugin.semantic?.embeddings.timeout, 1000);
      assert.deepEqual(plugin.instances[0]!.examples, ['x']);
    });

    it('defaults: timeout 3000, threshold 0, the OpenAI embeddings URL', () => {
      const plugin = loadConfigText(base({}), {}).routes[0]!.plugin;
      assert.equal(plugin.semantic?.embeddings.timeout, 3000);
      assert.equal(plugin.semantic?.threshold, 0);
      assert.equal(plugin.semantic?.embeddings.url.href, 'https://api.openai.com/v1/embeddings');
    });

    it('refuses semantic without semantic_opts', () => refused({ semantic_opts: undefined }, new RegExp(`${at}/semantic_opts.*required`)));
    it('refuses an unknown embeddings provider', () => refused({ semantic_opts: { embeddings: { provider: 'cohere', model: 'e' } } }, new RegExp(`${at}/semantic_opts/embeddings/provider`)));
    it('refuses azure-openai without endpoint', () => refused({ semantic_opts: { embeddings: { provider: 'azure-openai', model: 'e' } } }, new RegExp(`${at}/semantic_opts/embeddings/endpoint`)));
    it('refuses a fallback that is no instance', () => refused({ semantic_opts: { embeddings: { provider: 'openai', model: 'e' }, fallback: 'zz' } }, new RegExp(`${at}/semantic_opts/fallback`)));
    it('refuses a global threshold above 1', () => refused({ semantic_opts: { embeddings: { provider: 'openai', model: 'e' }, threshold: 1.5 } }, new RegExp(`${at}/semantic_opts/threshold`)));
    it('refuses 65 examples and an instance threshold below -1', () => {
      refused({ instances: [instance('a', 'http://127.0.0.1:1', { examples: Array.from({ length: 65 }, (_, i) => `e${i}`) })] }, new RegExp(`${at}/instances/0/examples`));
      refused({ instances: [instance('a', 'http://127.0.0.1:1', { examples: ['x'], threshold: -2 })] }, new RegExp(`${at}/instances/0/threshold`));
      refused({ instances: [instance('a', 'http://127.0.0.1:1', { examples: [] })] }, new RegExp(`${at}/instances/0/examples`));
    });
    it('refuses semantic when no instance has examples', () => refused({ instances: [instance('a', 'http://127.0.0.1:1')] }, new RegExp(`${at}/instances.*needs at least one instance with examples`)));
  });
});
