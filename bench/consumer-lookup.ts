// What identifying a consumer costs per request, by the number of consumer keys:
// `node bench/consumer-lookup.ts`. A micro-benchmark of one function, not of the gateway.
import { performance } from 'node:perf_hooks';
import { keyDigest } from '../lib/config/normalise.ts';
import { createConsumerRegistry } from '../lib/consumers/consumer-registry.ts';

const rounds = 50_000;
for (const n of [10, 100, 1000, 10_000]) {
  const consumers = Array.from({ length: n }, (_, i) => ({ name: `c${i}`, key_digests: [keyDigest(`ck-key-${i}-0123456789`)], labels: {}, limits: {} }));
  const registry = createConsumerRegistry(consumers);
  const known = { authorization: `Bearer ck-key-${n - 1}-0123456789` };
  const unknown = { 'x-api-key': 'ck-not-a-key-0123456789' };
  for (let i = 0; i < 5000; i++) registry.identify(known);
  const started = performance.now();
  for (let i = 0; i < rounds; i++) registry.identify(i % 2 === 0 ? known : unknown);
  const us = ((performance.now() - started) / rounds) * 1000;
  console.log(`${String(n).padStart(6)} consumers: ${us.toFixed(2)} µs per lookup`);
}
