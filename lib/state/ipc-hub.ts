// The primary process's side of ipc-store.ts: one memory store for the host, which every worker reads
// through its mirror. Each worker acts under its own replicaId (leases name their holder), all on the
// same maps, as replicas do on one Redis; an entry a worker writes is passed on to the others.
import { createMemoryState, createMemoryStore } from './memory-store.ts';
import type { MemoryStore } from './memory-store.ts';
import { ignoreSendError, isStateMessage } from './ipc-store.ts';
import type { IpcPort, IpcRequest, ToPrimary, ToWorker, WireEntry } from './ipc-store.ts';
import { systemClock } from './state-store.ts';
import type { Clock } from './state-store.ts';

export interface IpcHub {
  /** Serves one worker's channel until it closes (or `detach`). */
  attach(port: IpcPort): void;
  detach(port: IpcPort): void;
}

export function createIpcHub(opts: { clock?: Clock } = {}): IpcHub {
  const clock = opts.clock ?? systemClock;
  const state = createMemoryState();
  const views = new Map<string, MemoryStore>();
  const ports = new Map<IpcPort, { listener: (message: unknown) => void; replicas: Set<string> }>();
  const view = (replicaId: string): MemoryStore => {
    let store = views.get(replicaId);
    if (!store) {
      store = createMemoryStore({ state, clock, replicaId });
      views.set(replicaId, store);
    }
    return store;
  };

  const reply = (port: IpcPort, message: ToWorker): void => {
    try {
      port.send(message, ignoreSendError);
    } catch {
      // That worker is exiting; the cluster replaces it.
    }
  };

  const answer = async (store: MemoryStore, request: IpcRequest): Promise<unknown> => {
    switch (request.op) {
      case 'window':
        return store.addToWindow(request.counter, request.failures, request.total, request.windowMs);
      case 'acquire':
        return store.acquireLease(request.name, request.ttlMs);
      case 'renew':
        return store.renewLease(request.name, request.ttlMs);
      case 'release':
        await store.releaseLease(request.name);
        return true;
      case 'snapshot':
        return store.entries().map(({ key, entry, expiresAt }): WireEntry => ({ key, entry, expiresAt: Number.isFinite(expiresAt) ? expiresAt : null }));
    }
  };

  const handle = (from: IpcPort, message: ToPrimary): void => {
    ports.get(from)?.replicas.add(message.replicaId);
    if (message.aipmState === 'request') {
      void answer(view(message.replicaId), message.request).then((result) => reply(from, { aipmState: 'reply', id: message.id, result }));
      return;
    }
    const { key, entry, expiresAt } = message;
    if (!view(message.replicaId).merge(key, entry, expiresAt ?? Infinity)) return;
    for (const port of ports.keys()) if (port !== from) reply(port, { aipmState: 'entry', key, entry, expiresAt });
  };

  return {
    attach(port) {
      const listener = (message: unknown): void => {
        if (isStateMessage(message)) handle(port, message as ToPrimary);
      };
      ports.set(port, { listener, replicas: new Set() });
      port.on('message', listener);
    },
    detach(port) {
      const attached = ports.get(port);
      if (!attached) return;
      port.off('message', attached.listener);
      // Its leases stay in the shared maps until they expire, as a dead replica's do in Redis.
      for (const replicaId of attached.replicas) views.delete(replicaId);
      ports.delete(port);
    },
  };
}
