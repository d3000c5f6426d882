import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { signBedrockRequest } from '../../lib/providers/auth/sigv4.ts';
import type { AwsCredentials } from '../../lib/providers/auth/sigv4.ts';
import { verifyBedrockSignature } from '../../tools/simulator/sigv4-verifier.ts';
import type { ReceivedRequest } from '../../tools/simulator/sigv4-verifier.ts';

// The reproducible example of docs/protocols.md#sigv4-worked-example, computed with three independent signers.
const creds: AwsCredentials = { access_key_id: 'AKIDEXAMPLE', secret_access_key: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const region = 'us-east-1';
const now = new Date('2024-01-01T00:00:00Z');
const host = 'bedrock-runtime.us-east-1.amazonaws.com';
const body = Buffer.from('{"messages":[{"role":"user","content":[{"text":"Hello"}]}],"inferenceConfig":{"maxTokens":100}}');
const PAYLOAD_HASH = 'a70104911e71b59bfbdea1cc07d6b598b7013d3a263546af5dc9e53f8f57c8f1';
const CREDENTIAL = 'Credential=AKIDEXAMPLE/20240101/us-east-1/bedrock/aws4_request';

function request(path: string, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  return { method: 'POST', url: new URL(`https://${host}${path}`), headers, body };
}

function signatureOf(authorization: string | undefined): string {
  return /Signature=([0-9a-f]+)$/.exec(authorization ?? '')?.[1] ?? '';
}

// An independent HMAC chain (scope, key chain, signature) over a canonical request written out by hand.
function handSignature(canonicalRequest: string): string {
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
  const scope = '20240101/us-east-1/bedrock/aws4_request';
  const stringToSign = ['AWS4-HMAC-SHA256', '20240101T000000Z', scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
  let key = hmac(`AWS4${creds.secret_access_key}`, '20240101');
  for (const part of ['us-east-1', 'bedrock', 'aws4_request']) key = hmac(key, part);
  return createHmac('sha256', key).update(stringToSign).digest('hex');
}

describe('sigv4 for bedrock', () => {
  describe('signBedrockRequest', () => {
    it('reproduces the worked example of docs/protocols.md#sigv4-worked-example exactly', async () => {
      const headers = await signBedrockRequest(request('/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse'), creds, region, now);
      assert.deepEqual(headers, {
        'content-type': 'application/json',
        host,
        'x-amz-date': '20240101T000000Z',
        'x-amz-content-sha256': PAYLOAD_HASH,
        authorization:
          `AWS4-HMAC-SHA256 ${CREDENTIAL}, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, ` +
          'Signature=db1146ec2a6794af76b44bb865bf14b7c2ad38fe99dd5751edb264b6e8bed16d',
      });
    });

    it('signs the converse-stream path of the worked example table', async () => {
      const headers = await signBedrockRequest(request('/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream'), creds, region, now);
      assert.equal(signatureOf(headers['authorization']), '973924d24d60677a8e0dcec919e62fb3eb7ad6ba4e0d35d2f762c24f94aad8e3');
    });

    it('sends and signs the session token of temporary credentials', async () => {
      const headers = await signBedrockRequest(
        request('/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse'),
        { ...creds, session_token: 'FQoGZXIvYXdzEXAMPLETOKEN' },
        region,
        now,
      );
      assert.equal(headers['x-amz-security-token'], 'FQoGZXIvYXdzEXAMPLETOKEN');
      assert.match(headers['authorization'] ?? '', /SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token,/);
      assert.equal(signatureOf(headers['authorization']), 'eafa59d06a409be2e9c35a54eb0ef0775cb3191bef0a5e37253e646d21489c4e');
    });

    it('signs a content-length it is given, as the worked example variant with content-length and token', async () => {
      const headers = await signBedrockRequest(
        request('/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse', { 'Content-Type': 'application/json', 'Content-Length': '95' }),
        { ...creds, session_token: 'FQoGZXIvYXdzEXAMPLETOKEN' },
        region,
        now,
      );
      assert.equal(signatureOf(headers['authorization']), '92a6e4d9f88affb123518e9b1a7c090a24a59e0c6eac066f0a3571288920fa99');
    });

    it('double-encodes an encoded model id the way AWS canonicalises it (%3A → %253A, %2F → %252F)', async () => {
      // Signing the unencoded `:` form must give a different signature than the wire form: the
      // canonical URI is derived from the path as sent, so the provider must encode before signing.
      const encoded = await signBedrockRequest(request('/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse'), creds, region, now);
      const raw = await signBedrockRequest(request('/model/anthropic.claude-3-haiku-20240307-v1:0/converse'), creds, region, now);
      assert.notEqual(signatureOf(raw['authorization']), signatureOf(encoded['authorization']));
      const arnPath =
        '/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse';
      const arn = await signBedrockRequest(request(arnPath), creds, region, now);
      const canonical = [
        'POST',
        // The ARN model id's canonical URI, from the SDK signer (docs/protocols.md#sigv4-worked-example)
        '/model/arn%253Aaws%253Abedrock%253Aus-east-1%253A123456789012%253Ainference-profile%252Fus.anthropic.claude-3-5-sonnet-20241022-v2%253A0/converse',
        '',
        'content-type:application/json',
        `host:${host}`,
        `x-amz-content-sha256:${PAYLOAD_HASH}`,
        'x-amz-date:20240101T000000Z',
        '',
        'content-type;host;x-amz-content-sha256;x-amz-date',
        PAYLOAD_HASH,
      ].join('\n');
      assert.equal(signatureOf(arn['authorization']), handSignature(canonical));
      const received: ReceivedRequest = { method: 'POST', path: arnPath, headers: arn, body };
      assert.equal(await verifyBedrockSignature(received, creds, region, { now }), true);
    });

    it('puts a non-default port in the signed host header', async () => {
      const headers = await signBedrockRequest(
        { method: 'POST', url: new URL('http://127.0.0.1:8123/model/m/converse'), headers: {}, body },
        creds,
        region,
        now,
      );
      assert.equal(headers['host'], '127.0.0.1:8123');
    });
  });

  describe('verifyBedrockSignature', () => {
    const path = '/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse';
    async function signed(c: AwsCredentials = creds): Promise<ReceivedRequest> {
      const headers = await signBedrockRequest(request(path), c, region, now);
      // What a server sees: plus headers the client did not sign.
      return { method: 'POST', path, headers: { ...headers, 'user-agent': 'aws-sdk-js/3', 'content-length': '95' }, body };
    }

    it('accepts a request signed with the same secret', async () => {
      assert.equal(await verifyBedrockSignature(await signed(), creds, region, { now }), true);
    });

    it('rejects a request signed with another secret', async () => {
      const req = await signed({ ...creds, secret_access_key: 'not-the-secret' });
      assert.equal(await verifyBedrockSignature(req, creds, region, { now }), false);
    });

    it('rejects a request without an authorization header', async () => {
      const { authorization: _dropped, ...headers } = (await signed()).headers;
      assert.equal(await verifyBedrockSignature({ method: 'POST', path, headers, body }, creds, region, { now }), false);
    });

    it('rejects a body changed after signing, even with its hash header left as signed', async () => {
      const req = await signed();
      const other = Buffer.from(body.toString().replace('Hello', 'Hellx'));
      assert.equal(await verifyBedrockSignature({ ...req, body: other }, creds, region, { now }), false);
    });

    it('rejects another path, another region and a stale date', async () => {
      const req = await signed();
      assert.equal(await verifyBedrockSignature({ ...req, path: path.replace('converse', 'converse-stream') }, creds, region, { now }), false);
      assert.equal(await verifyBedrockSignature(req, creds, 'us-west-2', { now }), false);
      const later = new Date(now.getTime() + 16 * 60 * 1000);
      assert.equal(await verifyBedrockSignature(req, creds, region, { now: later }), false);
    });

    it('requires the expected session token and accepts it when signed', async () => {
      const temp = { ...creds, session_token: 'FQoGZXIvYXdzEXAMPLETOKEN' };
      assert.equal(await verifyBedrockSignature(await signed(temp), temp, region, { now }), true);
      assert.equal(await verifyBedrockSignature(await signed(), temp, region, { now }), false);
    });
  });
});
