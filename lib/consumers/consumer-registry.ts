// Who is calling: the key a client presents, the way its SDK sends it by default, looked up among the
// consumers' keys. Only SHA-256 digests are held; every lookup compares the presented key's digest with
// every known digest in constant time and without stopping at a match, so neither the time taken nor a
// partial match tells a caller anything about the keys.
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
  const entries = consumers.flatMap((consumer) =>
    consumer.key_digests.map((hex) => ({ digest: Buffer.from(hex, 'hex'), consumer })),
  );
  return {
    identify(headers) {
      const key = presentedKey(headers);
      if (key === undefined) return { kind: 'anonymous' };
      const digest = createHash('sha256').update(key, 'utf8').digest();
      let found: ConsumerConfig | undefined;
      for (const entry of entries) {
        // Digests are all 32 bytes, so timingSafeEqual never throws; no early exit on a match.
        if (timingSafeEqual(entry.digest, digest) && found === undefined) found = entry.consumer;
      }
      return found ? { kind: 'consumer', consumer: found } : { kind: 'unknown' };
    },
  };
}
