import assert from 'node:assert/strict';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { chatBody, instance, postJson, routeConfig, startGateway } from '../support/gateway-harness.ts';

/** The value of one sample line of the exposition, 0 when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inside = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (Object.entries(labels).every(([k, v]) => inside.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

describe('metrics after scripted traffic: exact counts a dashboard relies on', () => {
  let a: FakeOpenAI;
  let b: FakeOpenAI;
  let gw: TestGateway;
  before(async () => {
    a = await startFakeOpenAI({ name: 'a' });
    b = await startFakeOpenAI({ name: 'b' });
    gw = await startGateway(
      routeConfig(
        {
          breaker: { failure_threshold: 100, window_ms: 10_000, reset_timeout_ms: 30_000 },
          instances: [instance('a', a.url, { priority: 1 }), instance('b', b.url, { options: { model: 'b-model' } })],
        },
        { admin: { host: '127.0.0.1', port: 0 } },
      ),
    );
  });
  after(async () => {
    await gw.close();
    await Promise.all([a.close(), b.close()]);
  });

  it('counts a fallback by from/to/status, a stream, and a total failure under instance="none"', async () => {
    a.setBehavior({ kind: 'status', status: 503 });
    assert.equal((await postJson(`${gw.url}/v1/chat/completions`, chatBody())).status, 200); // a 503 → b
    a.setBehavior({ kind: 'ok' });
    const stream = await postJson(`${gw.url}/v1/chat/completions`, chatBody({ stream: true }));
    assert.equal(stream.status, 200);
    a.setBehavior({ kind: 'status', status: 500 });
    b.setBehavior({ kind: 'status', status: 500 });
    assert.equal((await postJson(`${gw.url}/v1/chat/completions`, chatBody())).status, 502); // both fail
    const text = await (await fetch(`${gw.adminUrl}/metrics`)).text();

    assert.equal(sample(text, 'aipm_requests_total', { route: 'r1', instance: 'b', status: '200', type: 'ai_chat' }), 1);
    assert.equal(sample(text, 'aipm_requests_total', { route: 'r1', instance: 'a', status: '200', type: 'ai_stream' }), 1);
    assert.equal(sample(text, 'aipm_requests_total', { route: 'r1', instance: 'none', status: '502', type: 'ai_chat' }), 1);
    assert.equal(sample(text, 'aipm_requests_total', { route: 'r1', instance: 'b', status: '502' }), 0, 'a total failure is not the last instance tried');
    assert.equal(sample(text, 'aipm_fallbacks_total', { route: 'r1', from: 'a', to: 'b', status: '503' }), 1);
    assert.equal(sample(text, 'aipm_fallbacks_total', { route: 'r1', from: 'a', to: 'b', status: '500' }), 1);
    assert.equal(sample(text, 'aipm_upstream_attempts_total', { route: 'r1', instance: 'a', status: '503' }), 1);
    assert.equal(sample(text, 'aipm_upstream_attempts_total', { route: 'r1', instance: 'b', status: '500' }), 1);
    assert.ok(sample(text, 'aipm_tokens_total', { route: 'r1', instance: 'b', model: 'b-model', kind: 'prompt' }) > 0, 'tokens by model');
    assert.equal(sample(text, 'aipm_time_to_first_token_seconds_count', { route: 'r1', instance: 'a' }), 1, 'one stream, one TTFT');
    assert.equal(sample(text, 'aipm_instance_in_flight', { route: 'r1', instance: 'a' }), 0);
    assert.equal(sample(text, 'aipm_instance_in_flight', { route: 'r1', instance: 'b' }), 0);
    assert.equal(sample(text, 'aipm_instance_breaker_state', { route: 'r1', instance: 'a', state: 'closed' }), 1);
    assert.equal(sample(text, 'aipm_instance_health', { route: 'r1', instance: 'a', state: 'unchecked' }), 1);
    assert.match(text, /^aipm_process_cpu_seconds_total /m, 'process metrics named once');
    assert.doesNotMatch(text, /aipm_process_process_/);
  });

  it('shows a stream in flight while it runs and 0 once it ended', async () => {
    a.setBehavior({ kind: 'ok', chunks: 6, chunkDelayMs: 150 });
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(chatBody({ stream: true })),
    });
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    await reader.read(); // the stream has started
    const during = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    assert.equal(sample(during, 'aipm_instance_in_flight', { route: 'r1', instance: 'a' }), 1, 'one upstream request in flight');
    while (!(await reader.read()).done);
    let after = '';
    for (let i = 0; i < 20; i++) {
      after = await (await fetch(`${gw.adminUrl}/metrics`)).text();
      if (sample(after, 'aipm_instance_in_flight', { route: 'r1', instance: 'a' }) === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.equal(sample(after, 'aipm_instance_in_flight', { route: 'r1', instance: 'a' }), 0);
    assert.equal(sample(after, 'aipm_requests_total', { route: 'r1', instance: 'a', status: '200', type: 'ai_stream' }), 2);
  });
});
