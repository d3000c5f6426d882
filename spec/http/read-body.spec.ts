import assert from 'node:assert/strict';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { GatewayError } from '../../lib/errors.ts';
import { contentCoding } from '../../lib/http/read-body.ts';
import type { FakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import { startFakeOpenAI } from '../../tools/simulator/fake-openai.ts';
import type { TestGateway } from '../support/gateway-harness.ts';
import { chatBody, instance, startGateway } from '../support/gateway-harness.ts';
import { rawRequest } from '../support/raw-http.ts';

const LIMIT = 1024 * 1024;

describe('contentCoding', () => {
  it('names gzip, x-gzip, deflate and br, and takes identity as none', () => {
    assert.equal(contentCoding('gzip'), 'gzip');
    assert.equal(contentCoding('X-GZIP'), 'gzip');
    assert.equal(contentCoding(' deflate '), 'deflate');
    assert.equal(contentCoding('br'), 'br');
    assert.equal(contentCoding('identity'), undefined);
    assert.equal(contentCoding('identity, gzip'), 'gzip');
    assert.equal(contentCoding(undefined), undefined);
  });

  it('refuses an unknown coding or a chain of codings with 415', () => {
    for (const value of ['compress', 'zstd', 'gzip, br', 'gzip;q=1', 'chunked']) {
      assert.throws(() => contentCoding(value), (err: unknown) => err instanceof GatewayError && err.status === 415, value);
    }
  });
});

describe('encoded request bodies through the gateway', () => {
  let up: FakeOpenAI;
  let gw: TestGateway;
  let port: number;

  before(async () => {
    up = await startFakeOpenAI({ name: 'up' });
    gw = await startGateway({
      server: { host: '127.0.0.1', port: 0 },
      admin: false,
      routes: [
        {
          id: 'r1',
          uris: ['/v1/*'],
          plugins: { 'ai-proxy-multi': { max_req_body_size: LIMIT, instances: [instance('up', up.url)] } },
        },
      ],
    });
    port = Number(new URL(gw.url).port);
  });
  after(async () => {
    await gw.close();
    await up.close();
  });
  beforeEach(() => up.reset());

  const post = (body: Buffer, encoding?: string) =>
    fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(encoding === undefined ? {} : { 'content-encoding': encoding }) },
      body,
    });

  it('decodes gzip, x-gzip, deflate and br bodies and forwards them decoded, without Content-Encoding', async () => {
    const json = JSON.stringify(chatBody({ note: 'é'.repeat(100) }));
    const cases: Array<[string, Buffer]> = [
      ['gzip', gzipSync(json)],
      ['x-gzip', gzipSync(json)],
      ['deflate', deflateSync(json)],
      ['br', brotliCompressSync(json)],
      ['identity', Buffer.from(json)],
    ];
    for (const [encoding, body] of cases) {
      up.reset();
      const res = await post(body, encoding);
      assert.equal(res.status, 200, `${encoding}: ${await res.clone().text()}`);
      const seen = up.requests[0];
      assert.equal(seen?.body.toString(), json, encoding);
      assert.equal(seen?.headers['content-encoding'], undefined, encoding);
    }
  });

  it('refuses an unknown content coding with 415 and never calls the provider', async () => {
    const res = await post(Buffer.from(JSON.stringify(chatBody())), 'zstd');
    assert.equal(res.status, 415);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'unsupported_content_encoding');
    assert.match(body.error.message, /zstd/);
    assert.equal(up.calls(), 0);
  });

  it('answers 400 for a body that claims gzip but is not, or is cut short', async () => {
    const plain = await post(Buffer.from(JSON.stringify(chatBody())), 'gzip');
    assert.equal(plain.status, 400);
    const body = (await plain.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'invalid_content_encoding');
    assert.match(body.error.message, /not valid gzip/);
    const full = gzipSync(JSON.stringify(chatBody()));
    const cut = await post(full.subarray(0, full.length - 10), 'gzip');
    assert.equal(cut.status, 400);
    const rawDeflate = await post(deflateRawSync(JSON.stringify(chatBody())), 'deflate');
    assert.equal(rawDeflate.status, 400, 'deflate means the zlib format (RFC 9110)');
    assert.equal(up.calls(), 0);
  });

  it('stops a zip bomb at the limit on decoded bytes (413) without inflating it', async () => {
    // Ten gzip members of 64 MiB of zeros each: 640 MiB decoded from well under 1 MiB on the wire.
    const member = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    const bomb = Buffer.concat(Array<Buffer>(10).fill(member));
    assert.ok(bomb.length < LIMIT);
    const before = process.memoryUsage().rss;
    const res = await post(bomb, 'gzip');
    assert.equal(res.status, 413);
    const body = (await res.json()) as { error: { message: string } };
    assert.match(body.error.message, /exceeds the limit of 1048576 bytes/);
    const grown = process.memoryUsage().rss - before;
    assert.ok(grown < 200 * 1024 * 1024, `rss grew by ${Math.round(grown / 1048576)} MiB`);
    assert.equal(up.calls(), 0);
  });

  it('bounds the encoded bytes too: a chunked stream of empty gzip members gets 413', async () => {
    const empty = gzipSync(Buffer.alloc(0));
    const flood = Buffer.concat(Array<Buffer>(Math.ceil((LIMIT * 1.5) / empty.length)).fill(empty));
    const chunked = Buffer.concat([Buffer.from(`${flood.length.toString(16)}\r\n`), flood, Buffer.from('\r\n0\r\n\r\n')]);
    const res = await rawRequest(
      port,
      'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked',
      chunked,
    );
    assert.equal(res.status, 413);
    assert.equal(up.calls(), 0);
  });
});
