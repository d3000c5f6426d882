// Shared state for breakers and health. Two implementations: memory (one process) and
// Redis (a fleet). The request hot path only calls the synchronous readers, which answer from a local
// mirror; everything that talks to Redis is asynchronous and never throws into a request.

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** A clock the breaker, health and store take so their tests are exact and never sleep. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export interface WindowTotals {
  /** Sum over the window across the fleet (or this process when offline / in memory). */
  failures: number;
  total: number;
}

export interface StoreEntry {
  value: JsonValue;
  /** Writer's clock when written; the newer entry wins when two replicas disagree. */
  at: number;
}

export type ChangeListener = (key: string, entry: StoreEntry | undefined) => void;

export interface StateStore {
  /** Unique per process: names the holder of a lease and the writer of an entry. */
  readonly replicaId: string;
  /** 'memory', or 'redis' while Redis answers, 'redis-offline' while it does not. */
  mode(): 'memory' | 'redis' | 'redis-offline';
  /** True while the state is shared through Redis (mode 'redis'); always false for the memory store. */
  connected(): boolean;

  /**
   * Adds outcomes to a sliding window counter (10 buckets of windowMs/10) and resolves to the fleet's
   * totals in the window. Never rejects: without Redis it answers from local counts.
   */
  addToWindow(counter: string, failures: number, total: number, windowMs: number): Promise<WindowTotals>;

  /** Last known value (local mirror), or undefined; expired entries are gone. Synchronous. */
  get(key: string): StoreEntry | undefined;
  /**
   * Writes locally at once, then to Redis with the TTL, and announces it to every replica (pub/sub).
   * Listeners on this replica are called synchronously.
   */
  put(key: string, value: JsonValue, ttlMs: number): void;
  /** Called for every change to any key, local or from another replica (after reconcile too). */
  onChange(listener: ChangeListener): void;

  /** An exclusive, expiring lease: resolves true when this replica holds it now. Never rejects. */
  acquireLease(name: string, ttlMs: number): Promise<boolean>;
  /** Extends a lease this replica holds; false when it was lost. Never rejects. */
  renewLease(name: string, ttlMs: number): Promise<boolean>;
  releaseLease(name: string): Promise<void>;

  /** Connects (Redis: loads the current state into the mirror before resolving, bounded in time). */
  start(): Promise<void>;
  close(): Promise<void>;
}
