import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createConsumerRegistry, presentedKey } from '../../lib/consumers/consumer-registry.ts';
import type { ConsumerConfig } from '../../lib/config/types.ts';
import { keyDigest } from '../../lib/config/normalise.ts';

const consumer = (name: string, keys: string[]): ConsumerConfig => ({ name, key_digests: keys.map(keyDigest), labels: {}, limits: {} });

describe('consumer keys', () => {
  const registry = createConsumerRegistry([
    consumer('alice', ['ck-alice-plain-key-0001']),
    consumer('bob', [`sha256:${createHash('sha256').update('ck-bob-hashed-key-0002').digest('hex').toUpperCase()}`]),
  ]);
  const who = (headers: Record<string, string>) => {
    const id = registry.identify(headers);
    return id.kind === 'consumer' ? id.consumer.name : id.kind;
  };

  it('finds a consumer by the key each SDK sends by default', () => {
    assert.equal(who({ authorization: 'Bearer ck-alice-plain-key-0001' }), 'alice');
    assert.equal(who({ 'x-api-key': 'ck-alice-plain-key-0001' }), 'alice');
    assert.equal(who({ 'api-key': 'ck-alice-plain-key-0001' }), 'alice');
  });

  it('matches a key configured as its sha256 digest (hex in any case)', () => {
    assert.equal(who({ authorization: 'bearer ck-bob-hashed-key-0002' }), 'bob');
    assert.equal(who({ authorization: `Bearer sha256:${keyDigest('ck-bob-hashed-key-0002')}` }), 'unknown', 'the digest itself is not a key');
  });

  it('tells a missing key from an unknown one', () => {
    assert.equal(who({}), 'anonymous');
    assert.equal(who({ authorization: 'Bearer ck-alice-plain-key-0002' }), 'unknown');
    assert.equal(who({ 'x-api-key': 'ck-alice-plain-key-000' }), 'unknown', 'a prefix of a key is no key');
  });

  it('does not take a SigV4 Authorization header for a key', () => {
    const sigv4 = 'AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=abc';
    assert.equal(presentedKey({ authorization: sigv4 }), undefined);
    assert.equal(presentedKey({ authorization: sigv4, 'x-api-key': 'k2' }), 'k2');
  });
});
