// One worker of a multi-worker host (`server.workers`, see primary.ts). It runs a whole gateway on the
// data listener the cluster shares, without an admin listener: the primary serves that and asks each
// worker, over the IPC channel, for its status, its metrics, a reload or a graceful stop.
import type { GatewayConfig } from '../config/types.ts';
import type { Gateway, GatewayOptions } from '../gateway.ts';
import type { Logger } from '../observe/logger.ts';
import { createIpcStore, ignoreSendError } from '../state/ipc-store.ts';
import type { IpcPort } from '../state/ipc-store.ts';

export type ControlRequest = 'status' | 'metrics' | 'reload';
/** Primary → worker. */
export type ToWorkerControl = { aipmWorker: ControlRequest; id: number } | { aipmWorker: 'shutdown' };
/** Worker → primary. */
export type FromWorkerControl = { aipmWorker: 'ready' } | { aipmWorker: 'reply'; id: number; result: unknown };
/** One registry's `getMetricsAsJSON()`, what prom-client's AggregatorRegistry.aggregate takes. */
export type MetricsJson = object[];

export function isControlMessage(message: unknown): message is { aipmWorker: string } {
  return typeof message === 'object' && message !== null && typeof (message as { aipmWorker?: unknown }).aipmWorker === 'string';
}

/**
 * Set by our primary in the environment of the workers it forks. A process can be a cluster worker of
 * someone else's primary (a process manager's cluster mode): that one is a gateway of its own.
 */
export const workerEnv = 'AIPM_CLUSTER_WORKER';

export function isOurWorker(isClusterWorker: boolean, env: NodeJS.ProcessEnv): boolean {
  return isClusterWorker && env[workerEnv] === '1';
}

/** `server.workers` as a number of processes. */
export function workerCount(workers: GatewayConfig['server']['workers'], cores: number): number {
  return workers === 'auto' ? Math.max(1, cores) : workers;
}

/**
 * What a worker's gateway is built with: no admin listener, and without Redis the primary's state
 * through the IPC channel (with Redis, every worker is a replica of the fleet like any other).
 */
export function workerGatewayOptions(config: GatewayConfig, port: IpcPort, log: Logger): Partial<GatewayOptions> {
  return { admin: false, ...(config.redis ? {} : { store: createIpcStore({ port, log: log.child({ component: 'state' }) }) }) };
}

/** Answers the primary's requests until the process exits; `stop` is the worker's graceful stop. */
export function serveWorker(gateway: Gateway, port: IpcPort, stop: () => void): void {
  const send = (message: FromWorkerControl) => port.send(message, ignoreSendError);
  const answer = async (request: ControlRequest): Promise<unknown> => {
    if (request === 'status') return gateway.status();
    if (request === 'metrics') return gateway.metricsRegistry.getMetricsAsJSON();
    return gateway.reloadFromSource();
  };
  port.on('message', (message: unknown) => {
    if (!isControlMessage(message)) return;
    const m = message as ToWorkerControl;
    if (m.aipmWorker === 'shutdown') {
      stop();
      return;
    }
    void answer(m.aipmWorker).then(
      (result) => send({ aipmWorker: 'reply', id: m.id, result }),
      (err: unknown) => send({ aipmWorker: 'reply', id: m.id, result: { error: err instanceof Error ? err.message : String(err) } }),
    );
  });
  send({ aipmWorker: 'ready' });
}
