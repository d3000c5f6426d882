import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect as h2connect } from 'node:http2';
import type { IncomingHttpHeaders } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI, { toFile } from 'openai';
import type { TestGateway } from '../support/gateway-harness.ts';
import { instance, routeConfig, startGateway } from '../support/gateway-harness.ts';
import type { RawUpstream } from '../support/raw-upstream.ts';
import { startRawUpstream } from '../support/raw-upstream.ts';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** An OpenAI-style provider that records what reached it and answers as `answer` says. */
async function provider(name: string, answer: (seen: Seen) => { status: number; body: string; type?: string } | 'hang' = () => ({ status: 200, body: '{}' })) {
  const seen: Seen[] = [];
  const server = await startRawUpstream((req, res, body) => {
    const s = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
    seen.push(s);
    const a = answer(s);
    if (a === 'hang') return;
    res.writeHead(a.status, { 'content-type': a.type ?? 'application/json', 'x-request-id': `req_${name}` }).end(a.body);
  });
  return { server, seen, name };
}

const KEY = (name: string) => `sk-${name}-secret-key-123456`;

describe('pass-through of every other request, with balancing and fallback', () => {
  const upstreams: RawUpstream[] = [];
  let gw: TestGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
    await Promise.all(upstreams.splice(0).map((u) => u.close()));
  });
  const track = <T extends { server: RawUpstream }>(p: T): T => {
    upstreams.push(p.server);
    return p;
  };

  it('sends a multipart transcription byte for byte with the instance key, falling back from a 503 (OpenAI SDK)', async () => {
    const a = track(await provider('a', () => ({ status: 503, body: '{"error":{"message":"overloaded"}}' })));
    const b = track(await provider('b', () => ({ status: 200, body: '{"text":"hello world"}' })));
    gw = await startGateway(routeConfig({ instances: [instance('a', a.server.url, { priority: 1 }), instance('b', b.server.url)] }));
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'client-key-never-forwarded', maxRetries: 0 });
    const audio = Buffer.from(Array.from({ length: 50_000 }, (_, i) => i % 251));
    const out = await client.audio.transcriptions.create({ file: await toFile(audio, 'a.wav', { type: 'audio/wav' }), model: 'whisper-1' });
    assert.equal(out.text, 'hello world');
    assert.equal(a.seen.length, 1);
    assert.equal(b.seen.length, 1);
    const [first, second] = [a.seen[0]!, b.seen[0]!];
    assert.equal(second.url, '/v1/audio/transcriptions');
    assert.match(String(second.headers['content-type']), /^multipart\/form-data; boundary=/);
    assert.equal(createHash('sha256').update(first.body).digest('hex'), createHash('sha256').update(second.body).digest('hex'), 'the same bytes replayed');
    assert.ok(second.body.includes(audio), 'the file is in the multipart body unchanged');
    assert.equal(second.headers['authorization'], `Bearer ${KEY('b')}`);
    assert.ok(!JSON.stringify([first.headers, second.headers]).includes('client-key-never-forwarded'));
    const access = gw.access()[0];
    assert.equal(access?.['request_type'], 'passthrough');
    assert.equal(access?.['status'], 200);
    assert.equal((access?.['attempts'] as unknown[]).length, 2);
  });

  it('sends moderations to /v1/moderations, not embeddings; files.create and GET/DELETE/HEAD reach the same paths', async () => {
    const a = track(await provider('a', (s) => ({ status: 200, body: s.url.startsWith('/v1/moderations') ? '{"id":"modr-1","model":"omni","results":[]}' : `{"id":"file-1","object":"file","method":"${s.method}"}` })));
    gw = await startGateway(routeConfig({ instances: [instance('a', a.server.url)] }));
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const moderation = await client.moderations.create({ model: 'omni-moderation-latest', input: 'hello' });
    assert.equal(moderation.id, 'modr-1');
    await client.files.create({ file: await toFile(Buffer.from('{"a":1}\n'), 'data.jsonl'), purpose: 'batch' });
    for (const method of ['GET', 'DELETE', 'HEAD']) {
      const res = await fetch(`${gw.url}/v1/files/file-1?limit=2`, { method });
      assert.equal(res.status, 200, method);
    }
    assert.deepEqual(
      a.seen.map((s) => `${s.method} ${s.url}`),
      ['POST /v1/moderations', 'POST /v1/files', 'GET /v1/files/file-1?limit=2', 'DELETE /v1/files/file-1?limit=2', 'HEAD /v1/files/file-1?limit=2'],
    );
  });

  it('streams a body over replay_body_size through once, without fallback, and says so in the log', async function () {
    this.timeout(20_000);
    const a = track(await provider('a', () => ({ status: 503, body: '{"error":{"message":"busy"}}' })));
    const b = track(await provider('b'));
    gw = await startGateway(
      routeConfig({ replay_body_size: 1024 * 1024, instances: [instance('a', a.server.url, { priority: 1 }), instance('b', b.server.url)] }),
    );
    const big = Buffer.alloc(30 * 1024 * 1024, 7);
    const res = await fetch(`${gw.url}/v1/files`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: big });
    assert.equal(res.status, 503, "the only attempt's answer");
    assert.equal(a.seen[0]?.body.length, big.length);
    assert.equal(b.seen.length, 0, 'no replay');
    assert.ok(gw.logs.some((l) => /streamed once, without fallback/.test(l.msg)));
  });

  it('relays an SSE answer chunk by chunk, as it comes', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const server = await startRawUpstream(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
      await gate;
      res.end('data: last\n\n');
    });
    upstreams.push(server);
    gw = await startGateway(routeConfig({ instances: [instance('a', server.url)] }));
    const res = await fetch(`${gw.url}/v1/threads/t1/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"stream":true}' });
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    assert.equal(first, 'data: first\n\n', 'the first event arrived while the upstream still held the last');
    release();
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
    assert.equal(rest, 'data: last\n\n');
  });

  it('aborts the upstream when the client leaves mid-upload and mid-download', async () => {
    const server = await startRawUpstream(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      for (let i = 0; i < 1000 && !res.destroyed; i++) {
        res.write(Buffer.alloc(64 * 1024));
        await sleep(5);
      }
      res.end();
    });
    upstreams.push(server);
    gw = await startGateway(routeConfig({ replay_body_size: 1024, instances: [instance('a', server.url)] }));
    // Download: read a little, then leave.
    await new Promise<void>((resolve) => {
      const req = httpRequest(`${gw!.url}/v1/files/f/content`, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.end();
    });
    await sleep(200);
    assert.equal(server.aborted(), 1, 'the download from the provider was cut');
    // Upload: send part of a streamed body, then leave.
    const upload = httpRequest(`${gw.url}/v1/files`, { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' } });
    upload.on('error', () => undefined);
    upload.write(Buffer.alloc(64 * 1024));
    await sleep(200);
    upload.destroy();
    await sleep(200);
    assert.ok(gw.access().some((a) => a['status'] === 499), 'the access log says the client left');
    assert.deepEqual(gw.gateway.routes[0]?.instances.get('a')?.stats.inFlight, 0);
  });

  it("never streams an error answer untouched: a provider echoing the key gets scrubbed, the client sees the provider's status", async () => {
    const a = track(await provider('a', (seen) => ({ status: 401, body: JSON.stringify({ error: { message: `Incorrect API key provided: ${String(seen.headers['authorization'])}` } }) })));
    gw = await startGateway(routeConfig({ instances: [instance('a', a.server.url)] }));
    const res = await fetch(`${gw.url}/v1/files`, { method: 'GET' });
    const text = await res.text();
    assert.equal(res.status, 401);
    assert.match(text, /Incorrect API key provided/);
    assert.ok(!text.includes(KEY('a')), text);
    assert.ok(!gw.logs.some((l) => JSON.stringify(l).includes(KEY('a'))), 'nor in any log line');
  });

  it('passes an HTTP/2 request through as it does an HTTP/1.1 one', async () => {
    const a = track(await provider('a', (s) => ({ status: 200, body: JSON.stringify({ method: s.method, url: s.url, bytes: s.body.length }) })));
    gw = await startGateway(routeConfig({ instances: [instance('a', a.server.url)] }));
    const session = h2connect(gw.url);
    const stream = session.request({ ':method': 'PUT', ':path': '/v1/files/f1?x=1', 'content-type': 'application/octet-stream' });
    stream.end(Buffer.alloc(1000, 1));
    let status = 0;
    let text = '';
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.on('data', (c: Buffer) => (text += c.toString()));
    await new Promise((resolve) => stream.on('end', resolve));
    session.close();
    assert.equal(status, 200);
    assert.deepEqual(JSON.parse(text), { method: 'PUT', url: '/v1/files/f1?x=1', bytes: 1000 });
    assert.equal(a.seen[0]?.headers['authorization'], `Bearer ${KEY('a')}`);
  });

  it('skips instances whose provider cannot pass requests through (Bedrock)', async () => {
    const a = track(await provider('a', () => ({ status: 200, body: '{"data":[]}' })));
    gw = await startGateway(
      routeConfig({
        instances: [
          { name: 'bedrock', provider: 'bedrock', priority: 1, provider_conf: { region: 'us-east-1' }, options: { model: 'm' }, auth: { aws: { access_key_id: 'AKIDEXAMPLE', secret_access_key: 'secret-example-key' } } },
          instance('a', a.server.url),
        ],
      }),
    );
    const res = await fetch(`${gw.url}/v1/batches`, { method: 'GET' });
    assert.equal(res.status, 200);
    assert.equal(a.seen.length, 1);
  });
});

describe('JSON passthrough on APISIX-style routes keeps the client method and query (APISIX #13546)', () => {
  it('sends a PUT with its query as a PUT with that query, the model rewritten', async () => {
    const seen: Array<{ method: string; url: string; body: string }> = [];
    const up = await startRawUpstream((req, res, body) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', body: body.toString() });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    const gw = await startGateway({
      server: { host: '127.0.0.1', port: 0 },
      admin: false,
      routes: [{ id: 'any', uri: '/anything/*', plugins: { 'ai-proxy-multi': { instances: [instance('a', up.url, { options: { model: 'inst-model' } })] } } }],
    });
    try {
      const res = await fetch(`${gw.url}/anything/items?page=2`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"model":"c","value":1}' });
      assert.equal(res.status, 200);
      assert.equal(seen[0]?.method, 'PUT');
      assert.equal(seen[0]?.url, '/anything/items?page=2');
      assert.deepEqual(JSON.parse(seen[0]?.body ?? '{}'), { model: 'inst-model', value: 1 });
    } finally {
      await gw.close();
      await up.close();
    }
  });
});
