// Who is calling: the key a client presents, the way its SDK sends it by default, looked up among the
// consumers' keys. Only SHA-256 digests are held, and only digests are compared: the presented key is
// hashed first, so how long a lookup takes depends on its digest, which an attacker cannot steer
// towards a stored one (finding a key from a digest is a preimage attack), never on how much of a key
// was right. The digest found is then confirmed with a constant-time comparison.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { ConsumerConfig } from '../config/types.ts';

type HeaderMap = Readonly<Record<string, string | string[] | undefined>>;

export type Identity =
  | { kind: 'anonymous' }
  | { kind: 'unknown' }
  | { kind: 'consumer'; consumer: ConsumerConfig };

export interface ConsumerRegistry {
  identify(headers: HeaderMap): Identity;
}

/**
 * The key a client presents: `Authorization: Bearer` (OpenAI SDKs), `x-api-key` (Anthropic SDKs),
 * `api-key` (Azure OpenAI clients). An Authorization header of another scheme (SigV4) is not a key.
 */
export function presentedKey(headers: HeaderMap): string | undefined {
  const auth = single(headers['authorization']);
  if (auth !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (match?.[1]) return match[1];
  }
  return single(headers['x-api-key']) ?? single(headers['api-key']);
}

function single(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  const trimmed = v?.trim();
  return trimmed ? trimmed : undefined;
}

export function createConsumerRegistry(consumers: readonly ConsumerConfig[]): ConsumerRegistry {
  const byDigest = new Map<string, { digest: Buffer; consumer: ConsumerConfig }>();
  for (const consumer of consumers) {
    for (const hex of consumer.key_digests) byDigest.set(hex, { digest: Buffer.from(hex, 'hex'), consumer });
  }
  return {
    identify(headers) {
      const key = presentedKey(headers);
      if (key === undefined) return { kind: 'anonymous' };
      const digest = createHash('sha256').update(key, 'utf8').digest();
      const entry = byDigest.get(digest.toString('hex'));
      // Both are 32-byte digests, so timingSafeEqual never throws.
      return entry && timingSafeEqual(entry.digest, digest) ? { kind: 'consumer', consumer: entry.consumer } : { kind: 'unknown' };
    },
  };
}
