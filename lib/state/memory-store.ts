// The single-process state store, and the local mirror and offline fallback inside the Redis store.
// Everything is answered from maps; expiry is lazy (checked against the injected clock on read), so
// the store owns no timers and a manual clock drives it exactly.
import { randomUUID } from 'node:crypto';
import { systemClock } from './state-store.ts';
import type { ChangeListener, Clock, JsonValue, StateStore, StoreEntry } from './state-store.ts';
import { createWindowCounters } from './window-counter.ts';
import type { WindowCounters } from './window-counter.ts';

interface Slot {
  entry: StoreEntry;
  expiresAt: number;
}

interface Lease {
  holder: string;
  expiresAt: number;
}

/**
 * The maps behind one or more memory stores. Stores built on the same state behave like replicas on one
 * perfectly reliable Redis (each with its own replicaId), which lets fleet behaviour be unit-tested with
 * a manual clock. Treat it as opaque.
 */
export interface MemoryState {
  readonly entries: Map<string, Slot>;
  readonly leases: Map<string, Lease>;
  readonly windows: WindowCounters;
  readonly listeners: Set<ChangeListener>;
}

export function createMemoryState(): MemoryState {
  return { entries: new Map(), leases: new Map(), windows: createWindowCounters(), listeners: new Set() };
}

/** What the Redis store needs beyond StateStore to use a memory store as its mirror. */
export interface MemoryStore extends StateStore {
  /**
   * Stores an entry written elsewhere if it is at least as new as ours (last writer wins by `at`) and
   * differs from it; calls listeners then. Returns whether anything changed.
   */
  merge(key: string, entry: StoreEntry, expiresAt: number): boolean;
  /** Live entries and when each expires. */
  entries(): Array<{ key: string; entry: StoreEntry; expiresAt: number }>;
  /** Records that another replica holds a lease, so an offline acquire does not take it before it expires. */
  noteLease(name: string, holder: string, expiresAt: number): void;
}

export interface MemoryStoreOptions {
  clock?: Clock;
  replicaId?: string;
  /** Share maps with other memory stores (an in-process fleet, for tests). */
  state?: MemoryState;
}

export function createMemoryStore(opts: MemoryStoreOptions = {}): MemoryStore {
  const clock = opts.clock ?? systemClock;
  const replicaId = opts.replicaId ?? randomUUID();
  const state = opts.state ?? createMemoryState();

  const live = (key: string): Slot | undefined => {
    const slot = state.entries.get(key);
    if (slot && slot.expiresAt <= clock.now()) {
      state.entries.delete(key);
      return undefined;
    }
    return slot;
  };

  const liveLease = (name: string): Lease | undefined => {
    const lease = state.leases.get(name);
    if (lease && lease.expiresAt <= clock.now()) {
      state.leases.delete(name);
      return undefined;
    }
    return lease;
  };

  // Every listener runs even if one throws; the first error is rethrown so a bug is not swallowed.
  const notify = (key: string, entry: StoreEntry | undefined): void => {
    let failure: { error: unknown } | undefined;
    for (const listener of [...state.listeners]) {
      try {
        listener(key, entry);
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
  };

  return {
    replicaId,
    mode: () => 'memory',
    connected: () => false,

    addToWindow: (counter, failures, total, windowMs) =>
      Promise.resolve(state.windows.add(counter, failures, total, windowMs, clock.now())),

    get: (key) => live(key)?.entry,

    put(key: string, value: JsonValue, ttlMs: number) {
      const at = clock.now();
      const entry = { value, at };
      state.entries.set(key, { entry, expiresAt: at + ttlMs });
      notify(key, entry);
    },

    merge(key, entry, expiresAt) {
      if (expiresAt <= clock.now()) return false;
      const current = live(key)?.entry;
      if (current && (entry.at < current.at || (entry.at === current.at && sameValue(entry.value, current.value)))) {
        return false;
      }
      state.entries.set(key, { entry, expiresAt });
      notify(key, entry);
      return true;
    },

    entries() {
      const out: Array<{ key: string; entry: StoreEntry; expiresAt: number }> = [];
      for (const key of [...state.entries.keys()]) {
        const slot = live(key);
        if (slot) out.push({ key, entry: slot.entry, expiresAt: slot.expiresAt });
      }
      return out;
    },

    onChange(listener) {
      state.listeners.add(listener);
    },

    acquireLease(name, ttlMs) {
      const lease = liveLease(name);
      if (lease && lease.holder !== replicaId) return Promise.resolve(false);
      state.leases.set(name, { holder: replicaId, expiresAt: clock.now() + ttlMs });
      return Promise.resolve(true);
    },

    renewLease(name, ttlMs) {
      const lease = liveLease(name);
      if (!lease || lease.holder !== replicaId) return Promise.resolve(false);
      lease.expiresAt = clock.now() + ttlMs;
      return Promise.resolve(true);
    },

    releaseLease(name) {
      if (liveLease(name)?.holder === replicaId) state.leases.delete(name);
      return Promise.resolve();
    },

    noteLease(name, holder, expiresAt) {
      state.leases.set(name, { holder, expiresAt });
    },

    start: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

/** Values are small JSON (breaker and health records); comparing their serialisations is enough. */
function sameValue(a: JsonValue, b: JsonValue): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}
