import assert from 'node:assert/strict';
import type { PluginConfig } from '../../lib/config/types.ts';
import { loadConfigText } from '../../lib/load-config.ts';
import type { ModelsCatalog } from '../../lib/http/models-list.ts';
import { buildCatalog, modelsRequest, renderModels } from '../../lib/http/models-list.ts';

/** A plugin block as the real loader normalises it from a config file. */
function plugin(fields: Record<string, unknown>): PluginConfig {
  const text = JSON.stringify({ routes: [{ id: 'r', uri: '/*', plugins: { 'ai-proxy-multi': fields } }] });
  const found = loadConfigText(text, {}).routes[0]?.plugin;
  assert.ok(found);
  return found;
}

const twoInstances = () =>
  plugin({
    instances: [
      { name: 'a', provider: 'openai', options: { model: 'gpt-4o-mini' } },
      { name: 'b', provider: 'anthropic', models: ['claude-sonnet-4-5', 'gpt-4o-mini'] },
    ],
  });

const CREATED = 1_780_000_000;
const json = (body: string): Record<string, unknown> => JSON.parse(body) as Record<string, unknown>;
const ids = (body: string): unknown[] => (json(body)['data'] as Array<{ id: unknown }>).map((m) => m.id);

describe('models-list', () => {
  describe('modelsRequest', () => {
    const p = twoInstances();

    it('takes GET and HEAD on a path ending /models as the list, and /models/{id} as one model', () => {
      assert.deepEqual(modelsRequest('GET', '/v1/models', p), {});
      assert.deepEqual(modelsRequest('HEAD', '/v1/models', p), {});
      assert.deepEqual(modelsRequest('GET', '/openai/v1/models', p), {});
      assert.deepEqual(modelsRequest('GET', '/v1/models/gpt-4o-mini', p), { id: 'gpt-4o-mini' });
    });

    it('decodes the id, and keeps slashes whether they came encoded or raw', () => {
      assert.deepEqual(modelsRequest('GET', '/v1/models/meta-llama%2Fllama-3-70b', p), { id: 'meta-llama/llama-3-70b' });
      assert.deepEqual(modelsRequest('GET', '/v1/models/meta-llama/llama-3-70b', p), { id: 'meta-llama/llama-3-70b' });
      assert.deepEqual(modelsRequest('GET', '/v1/models/ft%3Agpt-4o%3Aacme', p), { id: 'ft:gpt-4o:acme' });
      assert.deepEqual(modelsRequest('GET', '/v1/models/%ff', p), { id: '%ff' }, 'not UTF-8: kept as sent, then unknown');
    });

    it('leaves every other request to the pipeline', () => {
      assert.equal(modelsRequest('POST', '/v1/models', p), undefined);
      assert.equal(modelsRequest('DELETE', '/v1/models/ft:gpt-4o:acme', p), undefined);
      assert.equal(modelsRequest('GET', '/v1/chat/completions', p), undefined);
      assert.equal(modelsRequest('GET', '/v1/modelsx', p), undefined);
      assert.equal(modelsRequest('GET', '/v1/models/', p), undefined);
    });

    it('leaves models requests to the pipeline on a route set to pass them through', () => {
      const passthrough = plugin({ instances: [{ name: 'a', provider: 'openai' }], models_list: 'passthrough' });
      assert.equal(modelsRequest('GET', '/v1/models', passthrough), undefined);
      assert.equal(modelsRequest('GET', '/v1/models/gpt-4o', passthrough), undefined);
    });
  });

  describe('buildCatalog', () => {
    it('lists options.model then the instance models, once each, owned by the first provider serving them', () => {
      const catalog = buildCatalog(twoInstances(), CREATED);
      assert.deepEqual(catalog.models, [
        { id: 'gpt-4o-mini', ownedBy: 'openai' },
        { id: 'claude-sonnet-4-5', ownedBy: 'anthropic' },
      ]);
      assert.equal(catalog.byId.get('claude-sonnet-4-5')?.ownedBy, 'anthropic');
    });

    it('lists nothing for an instance that keeps the client model and names no models', () => {
      const catalog = buildCatalog(plugin({ instances: [{ name: 'a', provider: 'openai' }, { name: 'b', provider: 'deepseek', options: { model: '' } }] }), CREATED);
      assert.deepEqual(catalog.models, []);
    });
  });

  describe('renderModels, OpenAI shape', () => {
    const catalog: ModelsCatalog = buildCatalog(twoInstances(), CREATED);

    it('renders the list as OpenAI does', () => {
      const answer = renderModels(catalog, {}, 'openai');
      assert.equal(answer.status, 200);
      assert.equal(answer.headers['content-type'], 'application/json');
      assert.deepEqual(json(answer.body), {
        object: 'list',
        data: [
          { id: 'gpt-4o-mini', object: 'model', created: CREATED, owned_by: 'openai' },
          { id: 'claude-sonnet-4-5', object: 'model', created: CREATED, owned_by: 'anthropic' },
        ],
      });
    });

    it('renders one model, and an unknown one as a 404 model_not_found', () => {
      assert.deepEqual(json(renderModels(catalog, { id: 'claude-sonnet-4-5' }, 'openai').body), {
        id: 'claude-sonnet-4-5',
        object: 'model',
        created: CREATED,
        owned_by: 'anthropic',
      });
      const missing = renderModels(catalog, { id: 'gpt-5' }, 'openai');
      assert.equal(missing.status, 404);
      assert.equal(missing.error?.code, 'MODEL_NOT_FOUND');
      const error = json(missing.body)['error'] as Record<string, unknown>;
      assert.equal(error['code'], 'model_not_found');
      assert.equal(error['type'], 'invalid_request_error');
      assert.match(String(error['message']), /gpt-5/);
    });

    it('bounds the id it echoes in a 404', () => {
      const missing = renderModels(catalog, { id: 'x'.repeat(5000) }, 'openai');
      assert.ok(missing.body.length < 500, `body of ${missing.body.length} chars`);
    });
  });

  describe('renderModels, Anthropic shape', () => {
    const many = buildCatalog(plugin({ instances: [{ name: 'a', provider: 'anthropic', models: ['m1', 'm2', 'm3', 'm4', 'm5'] }] }), CREATED);

    it('renders the list as Anthropic does', () => {
      const answer = renderModels(buildCatalog(twoInstances(), CREATED), {}, 'anthropic');
      const body = json(answer.body);
      assert.equal(answer.status, 200);
      assert.equal(body['has_more'], false);
      assert.equal(body['first_id'], 'gpt-4o-mini');
      assert.equal(body['last_id'], 'claude-sonnet-4-5');
      const [first] = body['data'] as Array<Record<string, unknown>>;
      assert.deepEqual(first, {
        type: 'model',
        id: 'gpt-4o-mini',
        display_name: 'gpt-4o-mini',
        created_at: new Date(CREATED * 1000).toISOString().replace('.000Z', 'Z'),
        capabilities: null,
        deprecated_at: null,
        lifecycle: 'active',
        line: null,
        max_input_tokens: null,
        max_tokens: null,
        retires_at: null,
      });
    });

    it('pages by limit and after_id, and back by before_id', () => {
      const first = renderModels(many, {}, 'anthropic', 'limit=2');
      assert.deepEqual(ids(first.body), ['m1', 'm2']);
      assert.equal(json(first.body)['has_more'], true);
      const second = renderModels(many, {}, 'anthropic', 'limit=2&after_id=m2');
      assert.deepEqual(ids(second.body), ['m3', 'm4']);
      const last = renderModels(many, {}, 'anthropic', 'limit=2&after_id=m4');
      assert.deepEqual(ids(last.body), ['m5']);
      assert.equal(json(last.body)['has_more'], false);
      const back = renderModels(many, {}, 'anthropic', 'limit=2&before_id=m4');
      assert.deepEqual(ids(back.body), ['m2', 'm3']);
      assert.equal(json(back.body)['has_more'], true);
    });

    it('gives an empty last page for a cursor it does not know', () => {
      const body = json(renderModels(many, {}, 'anthropic', 'after_id=gone').body);
      assert.deepEqual(body, { data: [], has_more: false, first_id: null, last_id: null });
    });

    it('refuses a limit outside 1 to 1000 with a 400 in Anthropic shape', () => {
      for (const limit of ['0', '1001', 'abc', '2.5', '']) {
        const answer = renderModels(many, {}, 'anthropic', `limit=${limit}`);
        assert.equal(answer.status, 400, `limit=${limit}`);
        assert.equal((json(answer.body)['error'] as Record<string, unknown>)['type'], 'invalid_request_error');
      }
    });

    it('renders one model, and an unknown one as a 404 not_found_error', () => {
      assert.equal(json(renderModels(many, { id: 'm3' }, 'anthropic').body)['display_name'], 'm3');
      const missing = renderModels(many, { id: 'claude-9' }, 'anthropic');
      assert.equal(missing.status, 404);
      assert.deepEqual(json(missing.body), { type: 'error', error: { type: 'not_found_error', message: "The model 'claude-9' does not exist" } });
    });
  });
});
