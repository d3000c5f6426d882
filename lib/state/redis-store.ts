// The fleet-wide state store. Readers answer from a local mirror (a memory store); writes go to Redis in
// the background and reach the other replicas through pub/sub; a periodic reconcile repairs whatever
// pub/sub missed. Every command goes through one opossum breaker (redis-breaker.ts): when Redis is down,
// slow or hung it opens and everything carries on against the mirror: counters count per process and
// leases are local, so during an outage each replica may believe it holds a lease (two probes for a
// while beat none). Its half-open trial is the reconnect check, and the reconcile after it resyncs.
import { randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import type { Logger } from '../observe/logger.ts';
import { createMemoryStore } from './memory-store.ts';
import { createRedisBreaker, isOutage } from './redis-breaker.ts';
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
type Run = <T>(command: () => Promise<T>) => Promise<T>;

/** How each record is stored under `{prefix}kv:{key}` and published on `{prefix}events` (with `key`). */
interface WireRecord {
  value: JsonValue;
  at: number;
  by: string;
  /** ms from `at`; null = no expiry. Lets every mirror expire the entry when Redis does. */
  ttl: number | null;
}

const startTimeoutMs = 1500;
const clusterSlots = 16384;
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

  // `shared`: the mirror was reconciled with Redis since the breaker last closed (mode 'redis').
  // `outage`: from the breaker's first 'open' to the resync after it closes again.
  let shared = false;
  let outage = false;
  let started = false;
  let booting = true;
  let closed = false;
  let timer: unknown;
  let reconciling: Promise<void> | undefined;
  let subscribed: Promise<unknown> = Promise.resolve();
  const loggedErrors = new Set<string>();

  const breaker = createRedisBreaker({
    timeoutMs: opts.commandTimeoutMs ?? 500,
    reconnectCheckMs: reconcileIntervalMs,
    onOpen(reason) {
      shared = false;
      // A failed reconnect check opens it again: still the same outage, already logged.
      if (closed || outage) return;
      outage = true;
      log.warn({ err: errorText(reason) }, 'redis unavailable, serving on local state');
    },
    // The reconnect check is the breaker's single trial, sent here whatever else is under way: left to
    // the reconcile, a reconcile still waiting out a command sent before the outage would leave the
    // trial to the next caller, and that request would wait the whole command timeout. If it passes,
    // the breaker closes and the reconcile (onClose) resyncs.
    onHalfOpen: () => void run(() => answers(commands)).catch(() => undefined),
    // Whichever command closed it, the mirror is resynced before the store reports 'redis' again.
    onClose: () => void reconcile(),
  });
  // Before start() there is no connection yet: a call then is answered locally and does not count as an outage.
  const run: Run = (command) => (started ? breaker.run(command) : Promise.reject(new Error('not started')));

  // Outages are the breaker's to report. Redis answered, but refused this one command (a script denied
  // by an ACL, a key of the wrong type): the call was answered locally; say so once per kind.
  const onFailure = (err: unknown): void => {
    if (closed || isOutage(err)) return;
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
    await run(() => commands.aipmPut(kvPrefix + key, channel, JSON.stringify(record), event, entry.at, ttl === null ? '' : ttl));
  };

  // Last writer wins both ways: newer Redis entries come into the mirror, newer (or missing) local ones
  // go back to Redis. Entries Redis lost or expired stay local until their own TTL.
  const reconcileOnce = async (): Promise<void> => {
    // Open or half-open, the reconnect check decides (onHalfOpen): this run is turned down at once.
    if (!breaker.isClosed()) await run(() => answers(commands));
    const remote = await loadRecords(commands, kvPrefix, run);
    for (const [key, record] of remote) mergeSafely(key, record);
    for (const { key, entry, expiresAt } of mirror.entries()) {
      const theirs = remote.get(key);
      if (!theirs || theirs.at < entry.at) await writeEntry(key, entry, expiresAt);
    }
    if (closed || shared || !breaker.isClosed()) return;
    shared = true;
    log.info({ keys: remote.size }, outage ? 'redis reconnected, state resynced' : 'redis connected, state loaded');
    outage = false;
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
  commands.on('close', () => {
    if (!closed) breaker.trip(new Error('connection closed'));
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
    mode: () => (shared ? 'redis' : 'redis-offline'),
    connected: () => shared,

    // Each call below tries Redis through the breaker and answers locally when it turns the call down
    // (at once while open) or the command fails.
    async addToWindow(counter, failures, total, windowMs): Promise<WindowTotals> {
      try {
        const bucket = String(bucketIndex(clock.now(), windowMs));
        const [f, t] = await run(() => commands.aipmWindow(`${keyPrefix}win:${counter}`, bucket, failures, total, windowMs));
        return { failures: Number(f), total: Number(t) };
      } catch (err) {
        onFailure(err);
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
        if (entry) writeEntry(key, entry, entry.at + ttlMs).catch(onFailure);
      }
    },

    onChange: (listener) => mirror.onChange(listener),

    async acquireLease(name, ttlMs) {
      try {
        const [ok, holder, pttl] = await run(() => commands.aipmAcquire(`${keyPrefix}lease:${name}`, replicaId, Math.ceil(ttlMs)));
        // Remember who holds it so that, if Redis goes away now, this replica does not grab it early.
        mirror.noteLease(name, holder || replicaId, clock.now() + Math.max(0, Number(pttl)));
        return ok === 1;
      } catch (err) {
        onFailure(err);
      }
      return mirror.acquireLease(name, ttlMs);
    },

    async renewLease(name, ttlMs) {
      const heldLocally = await mirror.renewLease(name, ttlMs);
      try {
        const ok = await run(() => commands.aipmRenew(`${keyPrefix}lease:${name}`, replicaId, Math.ceil(ttlMs), heldLocally ? '1' : '0'));
        if (ok === 1) mirror.noteLease(name, replicaId, clock.now() + ttlMs);
        else await mirror.releaseLease(name);
        return ok === 1;
      } catch (err) {
        onFailure(err);
      }
      return heldLocally;
    },

    async releaseLease(name) {
      await mirror.releaseLease(name);
      await run(() => commands.aipmRelease(`${keyPrefix}lease:${name}`, replicaId)).catch(onFailure);
    },

    async start() {
      started = true;
      const first = (async () => {
        await Promise.allSettled([commands.connect(), subscriber.connect()]);
        await subscribed;
        await reconcile();
      })();
      // A down or hung Redis must not hold up the gateway's start: it reconnects in the background.
      await Promise.race([first, delay(startTimeoutMs)]);
      booting = false;
      if (!shared) breaker.trip(new Error(`no answer within ${startTimeoutMs} ms`));
      schedule();
    },

    async close() {
      if (closed) return;
      closed = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      breaker.shutdown();
      const quit = (client: Client) => client.quit().catch(() => undefined);
      await Promise.race([Promise.allSettled([quit(commands), quit(subscriber)]), delay(quitTimeoutMs)]);
      // quit() can hang on a Redis that never answers; disconnect() also stops reconnect timers.
      commands.disconnect();
      subscriber.disconnect();
    },
  };
}

/** Fail fast while disconnected (no offline queue), reconnect with capped backoff. */
function connectClient(opts: RedisStoreOptions, withScripts: boolean): Client {
  // The breaker's timeout decides; this one, later, only frees a command left on a hung connection.
  const commandTimeout = 2 * (opts.commandTimeoutMs ?? 500);
  const retry = (times: number): number => Math.min(100 * 2 ** Math.max(0, times - 1), 2000);
  const tuned = { connectTimeout: 1000, ...opts.redisOptions, commandTimeout, maxRetriesPerRequest: 1 };
  const fixed = { lazyConnect: true, enableOfflineQueue: false, autoResubscribe: false, ...(withScripts ? { scripts } : {}) };
  if (opts.cluster) {
    const clusterOptions: ClusterOptions = { ...fixed, clusterRetryStrategy: retry, redisOptions: tuned };
    return new Cluster([...opts.cluster], clusterOptions);
  }
  const options: RedisOptions = { ...tuned, ...fixed, retryStrategy: retry };
  // failoverDetector: leave the old master when the sentinels announce +switch-master. Without it a
  // planned failover leaves both connections on the old master, which keeps taking writes the fleet never
  // sees until the sentinels demote it (their INFO period, ~10 s later).
  if (opts.sentinels) return new Redis({ ...options, sentinels: [...opts.sentinels], name: opts.name ?? 'mymaster', failoverDetector: true });
  return new Redis(opts.url ?? 'redis://127.0.0.1:6379', options);
}

/**
 * Redis answers: a PING; in a Cluster, a PING to the master of every slot, as the slot table says after a
 * refresh. Any node (and SCAN on the masters still reachable) answers while a master is down and not yet
 * replaced, and the next command for one of its keys would fail again: an outage reported over and over.
 */
async function answers(client: Client): Promise<void> {
  if (!(client instanceof Cluster)) {
    await client.ping();
    return;
  }
  await new Promise<void>((resolve, reject) => client.refreshSlotsCache((err) => (err ? reject(err) : resolve())));
  const owners = new Set<string>();
  for (let slot = 0; slot < clusterSlots; slot++) {
    const owner = client.slots[slot]?.[0];
    if (owner === undefined) throw new Error(`slot ${slot} has no master`);
    owners.add(owner);
  }
  const masters = new Map(client.nodes('master').map((node) => [`${node.options.host}:${node.options.port}`, node]));
  await Promise.all([...owners].map((owner) => {
    const node = masters.get(owner);
    if (!node) throw new Error(`master ${owner} is not connected`);
    return node.ping();
  }));
}

/** Every `{prefix}kv:*` record (SCAN on each master, then values in batches), each command through `run`. */
async function loadRecords(client: Client, kvPrefix: string, run: Run): Promise<Map<string, WireRecord>> {
  const pattern = `${kvPrefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  const keys = new Set<string>();
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  // A cluster that never connected has no nodes yet; an empty scan must not count as "Redis answered".
  if (nodes.length === 0) throw new Error('no cluster master is connected');
  for (const node of nodes) {
    let cursor = '0';
    do {
      const from = cursor;
      const [next, batch] = await run(() => node.scan(from, 'MATCH', pattern, 'COUNT', 500));
      for (const key of batch) keys.add(key);
      cursor = next;
    } while (cursor !== '0');
  }
  const records = new Map<string, WireRecord>();
  const all = [...keys];
  for (let i = 0; i < all.length; i += 500) {
    const chunk = all.slice(i, i + 500);
    // MGET needs one slot in a cluster; single GETs are routed per key instead.
    const values = await run(() => (client instanceof Cluster ? Promise.all(chunk.map((k) => client.get(k))) : client.mget(...chunk)));
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

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
