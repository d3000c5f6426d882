import { Pool } from 'undici';

export interface PoolOptions {
  keepalive: boolean;
  keepaliveTimeoutMs: number;
  connections: number;
  timeoutMs: number;
  sslVerify: boolean;
}

/** One undici Pool per (origin, settings); shared by every instance that points at the same place. */
export class PoolRegistry {
  #pools = new Map<string, Pool>();

  get(origin: string, opts: PoolOptions): Pool {
    const key = `${origin}|${opts.keepalive}|${opts.keepaliveTimeoutMs}|${opts.connections}|${opts.timeoutMs}|${opts.sslVerify}`;
    let pool = this.#pools.get(key);
    if (!pool) {
      pool = new Pool(origin, {
        connections: opts.connections,
        keepAliveTimeout: opts.keepaliveTimeoutMs,
        keepAliveMaxTimeout: Math.max(opts.keepaliveTimeoutMs, 600_000),
        headersTimeout: opts.timeoutMs,
        bodyTimeout: opts.timeoutMs,
        connect: { rejectUnauthorized: opts.sslVerify, timeout: Math.min(opts.timeoutMs, 10_000) },
        // LLM calls are POSTs that may run for minutes: pipelining would queue behind them.
        pipelining: 1,
      });
      this.#pools.set(key, pool);
    }
    return pool;
  }

  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.allSettled(pools.map((p) => p.close()));
  }

  async destroy(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.allSettled(pools.map((p) => p.destroy()));
  }
}
