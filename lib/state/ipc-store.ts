// The state store of a worker process when one host runs several (`server.workers`) without Redis. The
// primary process holds the one memory store (ipc-hub.ts); each worker keeps a mirror of it, fed over
// the cluster's IPC channel, so the host behaves as one gateway: one breaker record, one failure window,
// one lease per instance. As with Redis, readers answer from the mirror and never wait; the asynchronous
// calls ask the primary and fall back to the mirror if it does not answer in time.
import { randomUUID } from 'node:crypto';
import type { Logger } from '../observe/logger.ts';
import { createMemoryStore } from './memory-store.ts';
import { systemClock } from './state-store.ts';
import type { Clock, StateStore, StoreEntry, WindowTotals } from './state-store.ts';

/**
 * A process's IPC channel: `process` in a worker, a cluster `Worker` in the primary. `send` must be given
 * a callback: without one, a send on a channel that has just closed is an 'error' event, uncaught.
 */
export interface IpcPort {
  send(message: unknown, callback: (error: Error | null) => void): unknown;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

export type IpcRequest =
  | { op: 'window'; counter: string; failures: number; total: number; windowMs: number }
  | { op: 'acquire' | 'renew'; name: string; ttlMs: number }
  | { op: 'release'; name: string }
  | { op: 'snapshot' };

export interface WireEntry {
  key: string;
  entry: StoreEntry;
  /** Epoch ms; null = never. */
  expiresAt: number | null;
}

/** Every message of this protocol carries `aipmState`, so it shares the channel with others. */
export type ToPrimary =
  | { aipmState: 'request'; id: number; replicaId: string; request: IpcRequest }
  | ({ aipmState: 'put'; replicaId: string } & WireEntry);
export type ToWorker = { aipmState: 'reply'; id: number; result: unknown } | ({ aipmState: 'entry' } & WireEntry);

/** For IpcPort.send: a message that could not be sent is dealt with by whoever waits for its answer. */
export const ignoreSendError = (): void => undefined;

export function isStateMessage(message: unknown): message is { aipmState: string } {
  return typeof message === 'object' && message !== null && typeof (message as { aipmState?: unknown }).aipmState === 'string';
}

export interface IpcStoreOptions {
  port: IpcPort;
  log: Logger;
  clock?: Clock;
  replicaId?: string;
  /** How long a call waits for the primary before answering from the mirror. */
  replyTimeoutMs?: number;
}

export function createIpcStore(opts: IpcStoreOptions): StateStore {
  const clock = opts.clock ?? systemClock;
  const replicaId = opts.replicaId ?? randomUUID();
  const replyTimeoutMs = opts.replyTimeoutMs ?? 1000;
  const mirror = createMemoryStore({ clock, replicaId });
  const pending = new Map<number, (result: unknown) => void>();
  let nextId = 0;
  let closed = false;

  const send = (message: ToPrimary): boolean => {
    if (closed) return false;
    try {
      // A failed send is the primary going away: the call is answered locally when its reply times out.
      opts.port.send(message, ignoreSendError);
      return true;
    } catch {
      return false;
    }
  };

  const merge = ({ key, entry, expiresAt }: WireEntry): void => {
    try {
      mirror.merge(key, entry, expiresAt ?? Infinity);
    } catch (err) {
      opts.log.error({ err: err instanceof Error ? err.message : String(err), key }, 'state change listener threw');
    }
  };

  const onMessage = (message: unknown): void => {
    if (!isStateMessage(message)) return;
    const m = message as ToWorker;
    if (m.aipmState === 'reply') pending.get(m.id)?.(m.result);
    else if (m.aipmState === 'entry') merge(m);
  };
  opts.port.on('message', onMessage);

  /** Asks the primary; `undefined` when it did not answer within the timeout (or cannot be reached). */
  const ask = (request: IpcRequest): Promise<unknown> => {
    const id = nextId++;
    return new Promise((resolve) => {
      const timer = clock.setTimeout(() => {
        pending.delete(id);
        resolve(undefined);
      }, replyTimeoutMs);
      pending.set(id, (result) => {
        clock.clearTimeout(timer);
        pending.delete(id);
        resolve(result);
      });
      if (!send({ aipmState: 'request', id, replicaId, request })) pending.get(id)?.(undefined);
    });
  };

  return {
    replicaId,
    mode: () => 'memory',
    connected: () => false,

    async addToWindow(counter, failures, total, windowMs): Promise<WindowTotals> {
      const result = (await ask({ op: 'window', counter, failures, total, windowMs })) as WindowTotals | undefined;
      return result ?? mirror.addToWindow(counter, failures, total, windowMs);
    },

    get: (key) => mirror.get(key),

    put(key, value, ttlMs) {
      try {
        mirror.put(key, value, ttlMs);
      } finally {
        const entry = mirror.get(key);
        if (entry) send({ aipmState: 'put', replicaId, key, entry, expiresAt: Number.isFinite(ttlMs) ? entry.at + ttlMs : null });
      }
    },

    onChange: (listener) => mirror.onChange(listener),

    async acquireLease(name, ttlMs) {
      const result = await ask({ op: 'acquire', name, ttlMs });
      return typeof result === 'boolean' ? result : mirror.acquireLease(name, ttlMs);
    },
    async renewLease(name, ttlMs) {
      const result = await ask({ op: 'renew', name, ttlMs });
      return typeof result === 'boolean' ? result : mirror.renewLease(name, ttlMs);
    },
    async releaseLease(name) {
      await mirror.releaseLease(name);
      await ask({ op: 'release', name });
    },

    async start() {
      const entries = (await ask({ op: 'snapshot' })) as WireEntry[] | undefined;
      for (const entry of entries ?? []) merge(entry);
    },
    async close() {
      closed = true;
      opts.port.off('message', onMessage);
      for (const resolve of [...pending.values()]) resolve(undefined);
    },
  };
}
