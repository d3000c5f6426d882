import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { logAccess, payloadText } from '../../lib/observe/access-log.ts';
import type { AccessRecord } from '../../lib/observe/access-log.ts';
import { createLogger } from '../../lib/observe/logger.ts';
import { SecretScrubber } from '../../lib/observe/secret-scrubber.ts';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { chatBody, instance, postJson, startGateway } from '../support/gateway-harness.ts';

const secret = 'hunter2-very-secret-credential';
const policy = (maxBytes: number) => ({ scrub: (t: string) => new SecretScrubber([secret]).scrub(t), maxBytes });

function capture(level: 'info' | 'warn') {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: createLogger(level, sink), lines };
}

const record = (more: Partial<AccessRecord> = {}): AccessRecord => ({
  route: 'r', method: 'POST', path: '/v1/chat/completions', client_ip: '127.0.0.1', status: 200, request_type: 'ai_chat',
  client_protocol: 'openai-chat', attempts: [], fallbacks: 0, duration_ms: 1, ...more,
});

describe('payloads in the access line', () => {
  it('scrubs a credential before cutting, so half a secret never survives the cut', () => {
    const text = `my key is ${secret} ok`;
    // The cut falls inside where the secret was: scrubbing after cutting would leave "hunter2-very".
    const out = payloadText(text, policy(22));
    assert.ok(!out.includes('hunter2'), out);
    assert.match(out, /^my key is \[REDACTED\]/);
    assert.match(out, /…\[truncated, \d+ bytes\]$/);
  });

  it('cuts on a character boundary and leaves short text whole', () => {
    assert.equal(payloadText('short', policy(4096)), 'short');
    const out = payloadText('ééééé', policy(5)); // 10 bytes; byte 5 is inside the third é
    assert.ok(out.startsWith('éé…'), out);
    assert.ok(!out.includes('\uFFFD'));
  });

  it('writes request_body and response_text in the access line at its own level, not at debug', () => {
    const { log, lines } = capture('info');
    logAccess(log, record({ request_body: { messages: [{ role: 'user', content: `use ${secret}` }] }, response_text: 'fine' }), policy(4096));
    assert.equal(lines.length, 1);
    const access = lines[0]?.['access'] as Record<string, unknown>;
    assert.equal(lines[0]?.['level'], 30);
    assert.match(String(access['request_body']), /"content":"use \[REDACTED\]"/);
    assert.equal(access['response_text'], 'fine');
  });

  it('writes no payload without a policy to scrub it', () => {
    const { log, lines } = capture('info');
    logAccess(log, record({ request_body: { secret }, response_text: secret }));
    assert.ok(!JSON.stringify(lines).includes(secret));
  });

  describe('through the gateway', () => {
    let up: FakeOpenAI;
    before(async () => {
      up = await startFakeOpenAI({ name: 'up', behavior: { kind: 'ok', content: 'the answer is forty-two' } });
    });
    after(() => up.close());

    it('logs the prompt without the instance key and the answer, cut to logging.max_payload_bytes', async () => {
      const inst = instance('up', up.url);
      const gw = await startGateway({
        routes: [{ id: 'r', uri: '/v1/*', plugins: { 'ai-proxy-multi': { logging: { payloads: true, max_payload_bytes: 200 }, instances: [inst] } } }],
      });
      try {
        const key = 'sk-up-secret-key-123456';
        const res = await postJson(`${gw.url}/v1/chat/completions`, chatBody({ messages: [{ role: 'user', content: `${key} ${'x'.repeat(500)}` }] }));
        assert.equal(res.status, 200, res.text);
        const access = gw.access()[0];
        assert.ok(access);
        const body = String(access['request_body']);
        assert.ok(!body.includes(key), body);
        assert.match(body, /\[REDACTED\]/);
        assert.match(body, /…\[truncated, \d+ bytes\]$/);
        assert.ok(Buffer.byteLength(body) < 260);
        assert.equal(access['response_text'], 'the answer is forty-two');
      } finally {
        await gw.close();
      }
    });
  });
});
