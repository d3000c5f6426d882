import { Client, Pool } from 'undici';
import type { Dispatcher } from 'undici';

export interface PoolOptions {
  keepalive: boolean;
  keepaliveTimeoutMs: number;
  /** Idle connections kept per origin (APISIX's `keepalive_pool`); never a cap on concurrent requests. */
  idleConnections: number;
  timeoutMs: number;
  /** The connect phase limit (`connect_timeout`), enforced by undici itself: a request waiting for its connection cannot be aborted sooner. */
  connectTimeoutMs: number;
  sslVerify: boolean;
}

// undici's headers/body timers run on a coarse clock; the attempt's own watchdog enforces `timeout`
// precisely and these only catch what it would miss.
const BACKSTOP_SLACK_MS = 5000;
// Idle connections beyond `keepalive_pool` close within this long after they went idle.
const TRIM_DELAY_MS = 100;

/**
 * A Pool with no cap on connections (LLM calls last tens of seconds: a cap would be the gateway's real
 * capacity limit) that keeps at most `idleConnections` sockets open while idle: when a connection
 * finishes its request and more than that many are idle, its socket is closed. The Client itself
 * stays in the pool and reconnects when it is needed again.
 */
function createOriginPool(origin: string, opts: PoolOptions): Pool {
  const clients = new Set<{ client: Client; socket: () => { destroy(): void } | undefined }>();
  let scheduled = false;
  const trim = (): void => {
    scheduled = false;
    let idle = 0;
    for (const entry of clients) {
      if (entry.client.destroyed || entry.client.closed) {
        clients.delete(entry);
        continue;
      }
      const stats = entry.client.stats;
      if (!stats.connected || stats.running > 0 || stats.pending > 0) continue;
      idle += 1;
      if (idle > opts.idleConnections) entry.socket()?.destroy();
    }
  };
  return new Pool(origin, {
    connections: null,
    keepAliveTimeout: opts.keepaliveTimeoutMs,
    keepAliveMaxTimeout: Math.max(opts.keepaliveTimeoutMs, 600_000),
    headersTimeout: opts.timeoutMs + BACKSTOP_SLACK_MS,
    bodyTimeout: opts.timeoutMs + BACKSTOP_SLACK_MS,
    connect: { rejectUnauthorized: opts.sslVerify, timeout: opts.connectTimeoutMs },
    // LLM calls are POSTs that may run for minutes: pipelining would queue behind them.
    pipelining: 1,
    factory(url, options) {
      const clientOpts = options as Client.Options;
      let socket: { destroy(): void } | undefined;
      const connect = clientOpts.connect;
      const client = new Client(url, {
        ...clientOpts,
        connect:
          typeof connect === 'function'
            ? (options, callback) =>
                connect(options, (err, sock) => {
                  socket = sock ?? undefined;
                  (callback as (e: Error | null, s: typeof sock) => void)(err, sock);
                })
            : connect,
      });
      const entry = { client, socket: () => socket };
      clients.add(entry);
      // At most one sweep per TRIM_DELAY_MS, however many requests finish: it is O(connections).
      client.on('drain', () => {
        if (scheduled) return;
        scheduled = true;
        setTimeout(trim, TRIM_DELAY_MS).unref();
      });
      client.on('disconnect', () => {
        socket = undefined;
      });
      return client as Dispatcher;
    },
  });
}

/** One undici Pool per (origin, settings); shared by every instance that points at the same place. */
export class PoolRegistry {
  #pools = new Map<string, Pool>();

  get(origin: string, opts: PoolOptions): Pool {
    const key = `${origin}|${opts.keepalive}|${opts.keepaliveTimeoutMs}|${opts.idleConnections}|${opts.timeoutMs}|${opts.connectTimeoutMs}|${opts.sslVerify}`;
    let pool = this.#pools.get(key);
    if (!pool) {
      pool = createOriginPool(origin, opts);
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
