import assert from 'node:assert/strict';
import { loadConfigText } from '../../lib/load-config.ts';
import type { Gateway } from '../../lib/gateway.ts';
import { createGateway } from '../../lib/gateway.ts';
import { createLogger } from '../../lib/observe/logger.ts';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { chatBody, instance, postJson } from '../support/gateway-harness.ts';

describe('reloading the configuration (POST /reload)', () => {
  let a: FakeOpenAI;
  let b: FakeOpenAI;
  let gateway: Gateway;
  let url: string;
  let admin: string;
  let text: string;

  const configFor = (target: FakeOpenAI, name: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({
      server: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0, api_key: 'k' },
      log: { level: 'silent' },
      routes: [{ id: 'chat', uri: '/v1/*', plugins: { 'ai-proxy-multi': { instances: [instance(name, target.url)] } } }],
      ...extra,
    });

  before(async () => {
    a = await startFakeOpenAI({ name: 'a', behavior: { kind: 'ok', content: 'one two three four', chunks: 4, chunkDelayMs: 80 } });
    b = await startFakeOpenAI({ name: 'b' });
    text = configFor(a, 'a');
    gateway = await createGateway(loadConfigText(text, {}), {
      logger: createLogger('silent'),
      loadConfig: () => loadConfigText(text, {}),
    });
    const { port, adminPort } = await gateway.listen();
    url = `http://127.0.0.1:${port}`;
    admin = `http://127.0.0.1:${adminPort}`;
  });
  after(async () => {
    await gateway.close();
    await Promise.all([a.close(), b.close()]);
  });

  const reload = () => fetch(`${admin}/reload`, { method: 'POST', headers: { 'x-api-key': 'k' } });

  it('switches new requests to the new routes while a stream in flight finishes on the old ones', async () => {
    const inFlight = postJson(`${url}/v1/chat/completions`, chatBody({ stream: true }));
    await new Promise((resolve) => setTimeout(resolve, 100));
    text = configFor(b, 'b');
    const res = await reload();
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { applied: true, problems: [], routes: 1 });
    const old = await inFlight;
    assert.equal(old.status, 200);
    assert.match(old.text, /data: \[DONE\]/);
    assert.equal((await postJson(`${url}/v1/chat/completions`, chatBody())).status, 200);
    assert.equal(b.calls('/v1/chat/completions'), 1);
    assert.deepEqual([...(gateway.routes[0]?.instances.keys() ?? [])], ['b']);
  });

  it('refuses an invalid file with every problem and keeps serving the current routes', async () => {
    text = '{"routes": [{"id": "chat", "uri": "/v1/*", "plugins": {"ai-proxy-multi": {"instances": [{"name": "x", "provider": "nope"}]}}}]}';
    const res = await reload();
    assert.equal(res.status, 400);
    const body = (await res.json()) as { applied: boolean; problems: Array<{ path: string }> };
    assert.equal(body.applied, false);
    assert.ok(body.problems.some((p) => p.path.endsWith('/provider')));
    assert.equal((await postJson(`${url}/v1/chat/completions`, chatBody())).status, 200);
  });

  it('refuses listener changes, which need a restart', async () => {
    text = configFor(b, 'b', { server: { host: '127.0.0.1', port: 1 } });
    const res = await reload();
    assert.equal(res.status, 400);
    const body = (await res.json()) as { problems: Array<{ path: string; message: string }> };
    assert.deepEqual(body.problems.map((p) => p.path), ['/server']);
  });

  it('needs the admin key', async () => {
    assert.equal((await fetch(`${admin}/reload`, { method: 'POST' })).status, 401);
  });
});
