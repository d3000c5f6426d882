// The fleet-wide state store. Readers answer from a local mirror (a memory store); writes
// go to Redis in the background and reach the other replicas through pub/sub; a periodic reconcile
// repairs whatever pub/sub missed. When Redis is down, slow or hung, everything carries on against the
// mirror: counters count per process and leases are local, so during an outage each replica may believe
// it holds a lease (two probes for a while beat none). The first exchange that works again resyncs.
import { randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import type { Logger } from '../observe/logger.ts';
import { createMemoryStore } from './memory-store.ts';
import { systemClock } from './state-store.ts';
import type { Clock, JsonValue, StateStore, StoreEntry, WindowTotals } from './state-store.ts';
import { bucketIndex, windowLua } from './window-counter.ts';

export interface RedisStoreOptions {
  /** Standalone redis:// or rediss:// URL. Exactly one of url, sentinels + name, or cluster. */
  url?: string;
  sentinels?: ReadonlyArray<{ host: string; port: number }>;
  /** Sentinel master name. */
  name?: string;
  /** Cluster start-up nodes as redis:// URLs. */
  cluster?: readonly string[];
  /** Passed to ioredis (password, tls, db, ...); the resilience settings below stay ours. */
  redisOptions?: RedisOptions;
  keyPrefix: string;
  clock?: Clock;
  replicaId?: string;
  log: Logger;
  reconcileIntervalMs?: number;
  commandTimeoutMs?: number;
}

// Script bodies. Setting an entry is compare-and-set on `at` so a late or replayed write never replaces
// a newer one, and it publishes only what it stored.
const putLua = `
local current = redis.call('GET', KEYS[1])
if current then
  local ok, old = pcall(cjson.decode, current)
  if ok and type(old) == 'table' and type(old.at) == 'number' and old.at > tonumber(ARGV[4]) then return 0 end
end
if ARGV[5] == '' then redis.call('SET', KEYS[1], ARGV[2]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[5]) end
redis.call('PUBLISH', ARGV[1], ARGV[3])
return 1`;
const acquireLua = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1, ARGV[1], tonumber(ARGV[2])} end
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return {1, holder, tonumber(ARGV[2])} end
return {0, holder or '', redis.call('PTTL', KEYS[1])}`;
// ARGV[3] = '1' when this replica holds the lease locally (taken during an outage): it may reclaim a
// lease Redis lost, but never one another replica holds.
const renewLua = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not holder and ARGV[3] == '1' then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0`;
const releaseLua = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const scripts = {
  aipmWindow: { lua: windowLua, numberOfKeys: 1 },
  aipmPut: { lua: putLua, numberOfKeys: 1 },
  aipmAcquire: { lua: acquireLua, numberOfKeys: 1 },
  aipmRenew: { lua: renewLua, numberOfKeys: 1 },
  aipmRelease: { lua: releaseLua, numberOfKeys: 1 },
};

type Arg = string | number;
/** The commands ioredis defines from `scripts` (it runs EVALSHA and falls back to EVAL on NOSCRIPT). */
interface ScriptCommands {
  aipmWindow(key: string, ...args: Arg[]): Promise<[number, number]>;
  aipmPut(key: string, ...args: Arg[]): Promise<number>;
  aipmAcquire(key: string, ...args: Arg[]): Promise<[number, string, number]>;
  aipmRenew(key: string, ...args: Arg[]): Promise<number>;
  aipmRelease(key: string, ...args: Arg[]): Promise<number>;
}
type Client = Redis | Cluster;

/** How each record is stored under `{prefix}kv:{key}` and published on `{prefix}events` (with `key`). */
interface WireRecord {
  value: JsonValue;
  at: number;
  by: string;
  /** ms from `at`; null = no expiry. Lets every mirror expire the entry when Redis does. */
  ttl: number | null;
}

const startTimeoutMs = 1500;
const quitTimeoutMs = 500;

export function createRedisStore(opts: RedisStoreOptions): StateStore {
  const clock = opts.clock ?? systemClock;
  const replicaId = opts.replicaId ?? randomUUID();
  const { log, keyPrefix } = opts;
  const reconcileIntervalMs = opts.reconcileIntervalMs ?? 2000;
  const mirror = createMemoryStore({ clock, replicaId });
  const channel = `${keyPrefix}events`;
  const kvPrefix = `${keyPrefix}kv:`;

  const commands = connectClient(opts, true) as Client & ScriptCommands;
  const subscriber = connectClient(opts, false);

  let status: 'starting' | 'online' | 'offline' = 'starting';
  let booting = true;
  let closed = false;
  let timer: unknown;
  let reconciling: Promise<void> | undefined;
  let subscribed: Promise<unknown> = Promise.resolve();
  const loggedErrors = new Set<string>();

  // One line per outage, never one per command: callers funnel every failure through here.
  const goOffline = (err: unknown): void => {
    if (closed || status === 'offline') return;
    status = 'offline';
    log.warn({ err: errorText(err) }, 'redis unavailable, serving on local state');
  };
  const goOnline = (keys: number): void => {
    if (closed || status === 'online') return;
    if (status === 'offline') log.info({ keys }, 'redis reconnected, state resynced');
    else log.info({ keys }, 'redis connected, state loaded');
    status = 'online';
  };
  // Redis answered, but with an error that is not about availability (a script denied by an ACL, a
  // key of the wrong type): answer locally for this call and say so once per kind.
  const onFailure = (err: unknown): void => {
    if (isOutage(err)) return goOffline(err);
    const kind = errorText(err).split(' ')[0] ?? 'ERR';
    if (!loggedErrors.has(kind)) {
      loggedErrors.add(kind);
      log.error({ err: errorText(err) }, 'redis rejected a state command, using local state for it');
    }
  };

  const mergeSafely = (key: string, record: WireRecord): void => {
    const expiresAt = record.ttl === null ? Infinity : record.at + record.ttl;
    try {
      mirror.merge(key, { value: record.value, at: record.at }, expiresAt);
    } catch (err) {
      log.error({ err: errorText(err), key }, 'state change listener threw');
    }
  };

  const writeEntry = async (key: string, entry: StoreEntry, expiresAt: number): Promise<void> => {
    const ttl = Number.isFinite(expiresAt) ? Math.max(1, Math.ceil(expiresAt - clock.now())) : null;
    const record: WireRecord = { value: entry.value, at: entry.at, by: replicaId, ttl: ttl === null ? null : expiresAt - entry.at };
    const event = JSON.stringify({ key, ...record });
    await commands.aipmPut(kvPrefix + key, channel, JSON.stringify(record), event, entry.at, ttl === null ? '' : ttl);
  };

  // Last writer wins both ways: newer Redis entries come into the mirror, newer (or missing) local ones
  // go back to Redis. Entries Redis lost or expired stay local until their own TTL.
  const reconcileOnce = async (): Promise<void> => {
    const remote = await loadRecords(commands, kvPrefix);
    for (const [key, record] of remote) mergeSafely(key, record);
    for (const { key, entry, expiresAt } of mirror.entries()) {
      const theirs = remote.get(key);
      if (!theirs || theirs.at < entry.at) await writeEntry(key, entry, expiresAt);
    }
    goOnline(remote.size);
  };
  const reconcile = (): Promise<void> => {
    if (closed) return Promise.resolve();
    reconciling ??= reconcileOnce()
      .catch(onFailure)
      .finally(() => {
        reconciling = undefined;
      });
    return reconciling;
  };
  const schedule = (): void => {
    if (closed) return;
    timer = clock.setTimeout(() => {
      void reconcile().finally(schedule);
    }, reconcileIntervalMs);
  };

  commands.on('error', (err: unknown) => log.debug({ err: errorText(err) }, 'redis connection error'));
  subscriber.on('error', (err: unknown) => log.debug({ err: errorText(err) }, 'redis subscriber error'));
  commands.on('close', () => goOffline(new Error('connection closed')));
  commands.on('ready', () => {
    if (!booting) void reconcile();
  });
  // Subscribing on every ready (instead of ioredis's auto-resubscribe) also covers a subscriber whose
  // first connect failed; the reconcile after it repairs what was published while it was away.
  subscriber.on('ready', () => {
    subscribed = subscriber.subscribe(channel).catch((err: unknown) => log.debug({ err: errorText(err) }, 'redis subscribe failed'));
    if (!booting) void subscribed.then(reconcile);
  });
  subscriber.on('message', (from: string, message: string) => {
    if (from !== channel) return;
    const event = parseRecord(message);
    if (!event || event.by === replicaId || typeof event.key !== 'string') return;
    mergeSafely(event.key, event);
  });

  return {
    replicaId,
    mode: () => (status === 'online' ? 'redis' : 'redis-offline'),

    async addToWindow(counter, failures, total, windowMs): Promise<WindowTotals> {
      if (status === 'online') {
        try {
          const bucket = String(bucketIndex(clock.now(), windowMs));
          const [f, t] = await commands.aipmWindow(`${keyPrefix}win:${counter}`, bucket, failures, total, windowMs);
          return { failures: Number(f), total: Number(t) };
        } catch (err) {
          onFailure(err);
        }
      }
      return mirror.addToWindow(counter, failures, total, windowMs);
    },

    get: (key) => mirror.get(key),

    put(key, value, ttlMs) {
      try {
        mirror.put(key, value, ttlMs);
      } finally {
        // Offline, the mirror is the record: the reconcile after reconnecting writes it back. A throwing
        // listener (rethrown to the caller) must not keep the write from the fleet.
        const entry = mirror.get(key);
        if (entry && status === 'online') writeEntry(key, entry, entry.at + ttlMs).catch(onFailure);
      }
    },

    onChange: (listener) => mirror.onChange(listener),

    async acquireLease(name, ttlMs) {
      if (status === 'online') {
        try {
          const [ok, holder, pttl] = await commands.aipmAcquire(`${keyPrefix}lease:${name}`, replicaId, Math.ceil(ttlMs));
          // Remember who holds it so that, if Redis goes away now, this replica does not grab it early.
          mirror.noteLease(name, holder || replicaId, clock.now() + Math.max(0, Number(pttl)));
          return ok === 1;
        } catch (err) {
          onFailure(err);
        }
      }
      return mirror.acquireLease(name, ttlMs);
    },

    async renewLease(name, ttlMs) {
      if (status === 'online') {
        try {
          const heldLocally = await mirror.renewLease(name, ttlMs);
          const ok = await commands.aipmRenew(`${keyPrefix}lease:${name}`, replicaId, Math.ceil(ttlMs), heldLocally ? '1' : '0');
          if (ok === 1) mirror.noteLease(name, replicaId, clock.now() + ttlMs);
          else await mirror.releaseLease(name);
          return ok === 1;
        } catch (err) {
          onFailure(err);
        }
      }
      return mirror.renewLease(name, ttlMs);
    },

    async releaseLease(name) {
      await mirror.releaseLease(name);
      if (status !== 'online') return;
      await commands.aipmRelease(`${keyPrefix}lease:${name}`, replicaId).catch(onFailure);
    },

    async start() {
      const first = (async () => {
        await Promise.allSettled([commands.connect(), subscriber.connect()]);
        await subscribed;
        await reconcile();
      })();
      // A down or hung Redis must not hold up the gateway's start: it reconnects in the background.
      await Promise.race([first, delay(startTimeoutMs)]);
      booting = false;
      if (status !== 'online') goOffline(new Error(`no answer within ${startTimeoutMs} ms`));
      schedule();
    },

    async close() {
      if (closed) return;
      closed = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      const quit = (client: Client) => client.quit().catch(() => undefined);
      await Promise.race([Promise.allSettled([quit(commands), quit(subscriber)]), delay(quitTimeoutMs)]);
      // quit() can hang on a Redis that never answers; disconnect() also stops reconnect timers.
      commands.disconnect();
      subscriber.disconnect();
    },
  };
}

/** Fail fast while disconnected (no offline queue), bounded commands, reconnect with capped backoff. */
function connectClient(opts: RedisStoreOptions, withScripts: boolean): Client {
  const commandTimeout = opts.commandTimeoutMs ?? 500;
  const retry = (times: number): number => Math.min(100 * 2 ** Math.max(0, times - 1), 2000);
  const tuned = { connectTimeout: 1000, ...opts.redisOptions, commandTimeout, maxRetriesPerRequest: 1 };
  const fixed = { lazyConnect: true, enableOfflineQueue: false, autoResubscribe: false, ...(withScripts ? { scripts } : {}) };
  if (opts.cluster) {
    const clusterOptions: ClusterOptions = { ...fixed, clusterRetryStrategy: retry, redisOptions: tuned };
    return new Cluster([...opts.cluster], clusterOptions);
  }
  const options: RedisOptions = { ...tuned, ...fixed, retryStrategy: retry };
  if (opts.sentinels) return new Redis({ ...options, sentinels: [...opts.sentinels], name: opts.name ?? 'mymaster' });
  return new Redis(opts.url ?? 'redis://127.0.0.1:6379', options);
}

/** Every `{prefix}kv:*` record (SCAN on each master, then values in batches). */
async function loadRecords(client: Client, kvPrefix: string): Promise<Map<string, WireRecord>> {
  const pattern = `${kvPrefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  const keys = new Set<string>();
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  // A cluster that never connected has no nodes yet; an empty scan must not count as "Redis answered".
  if (nodes.length === 0) throw new Error('no cluster master is connected');
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      for (const key of batch) keys.add(key);
      cursor = next;
    } while (cursor !== '0');
  }
  const records = new Map<string, WireRecord>();
  const all = [...keys];
  for (let i = 0; i < all.length; i += 500) {
    const chunk = all.slice(i, i + 500);
    // MGET needs one slot in a cluster; single GETs are routed per key instead.
    const values = client instanceof Cluster ? await Promise.all(chunk.map((k) => client.get(k))) : await client.mget(...chunk);
    chunk.forEach((key, j) => {
      const record = parseRecord(values[j] ?? null);
      if (record) records.set(key.slice(kvPrefix.length), record);
    });
  }
  return records;
}

function parseRecord(raw: string | null): (WireRecord & { key?: unknown }) | undefined {
  if (raw === null) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || !('value' in parsed)) return undefined;
  const { value, at, by, ttl, key } = parsed as Record<string, unknown>;
  if (typeof at !== 'number' || typeof by !== 'string' || (ttl !== null && typeof ttl !== 'number')) return undefined;
  return { value: value as JsonValue, at, by, ttl, key };
}

// Redis replies with an error whose first word is its code; these codes mean "not available right now",
// anything else it says means it is up and refused this one command.
const outageCodes = new Set(['READONLY', 'LOADING', 'MASTERDOWN', 'CLUSTERDOWN', 'TRYAGAIN', 'BUSY']);
function isOutage(err: unknown): boolean {
  if (!(err instanceof Error) || err.name !== 'ReplyError') return true;
  return outageCodes.has(err.message.split(' ')[0] ?? '');
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
