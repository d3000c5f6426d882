// The one place that turns the `redis` config block into a state store: in-memory without it, Redis
// (standalone, Sentinel or Cluster) with it.
import type { RedisOptions } from 'ioredis';
import { configDefaults } from '../config/schema.ts';
import type { GatewayConfig } from '../config/types.ts';
import type { Logger } from '../observe/logger.ts';
import { createMemoryStore } from './memory-store.ts';
import type { Clock, StateStore } from './state-store.ts';

export interface StateStoreOptions {
  clock?: Clock;
  replicaId?: string;
}

/** Async so that ioredis is loaded only when a `redis` block asks for it. */
export async function createStateStore(config: GatewayConfig['redis'], log: Logger, opts: StateStoreOptions = {}): Promise<StateStore> {
  if (!config) return createMemoryStore(opts);
  const { createRedisStore } = await import('./redis-store.ts');
  const where = 'url' in config
    ? { url: config.url }
    : 'sentinels' in config
      ? { sentinels: config.sentinels, name: config.name }
      : { cluster: config.cluster };
  return createRedisStore({
    ...where,
    // A copy: the config is deep-frozen and ioredis may fill in nested option objects (tls).
    ...(config.options ? { redisOptions: structuredClone(config.options) as RedisOptions } : {}),
    keyPrefix: config.key_prefix,
    reconcileIntervalMs: config.reconcile_interval_ms ?? configDefaults.redis.reconcile_interval_ms,
    commandTimeoutMs: config.command_timeout_ms ?? configDefaults.redis.command_timeout_ms,
    log: log.child({ component: 'state' }),
    ...opts,
  });
}
