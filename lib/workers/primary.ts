// `server.workers` > 1: this process becomes the node:cluster primary. It forks the workers (each a whole
// gateway, worker.ts) which share the data listener, holds the host's state for them when there is no
// Redis (ipc-hub.ts), serves the admin listener for the host (readiness, /status merged, /metrics
// aggregated with prom-client's AggregatorRegistry, /reload to every worker), passes SIGTERM/SIGINT and
// SIGHUP on to every worker, and replaces a worker that dies.
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { AggregatorRegistry } from 'prom-client';
import type { GatewayConfig } from '../config/types.ts';
import type { ReloadResult } from '../gateway.ts';
import { createAdminApp } from '../http/admin-app.ts';
import { connectionLimits } from '../http/connection-guard.ts';
import { guardAdminServer } from '../http/listener.ts';
import { mergeStatusReports } from '../http/status-report.ts';
import type { StatusReport } from '../http/status-report.ts';
import type { Logger } from '../observe/logger.ts';
import { createMetrics } from '../observe/metrics.ts';
import { reduceMemoryAfterStartUp } from '../runtime/idle-memory.ts';
import { createServer } from '../runtime/node-http.ts';
import { createIpcHub } from '../state/ipc-hub.ts';
import { ignoreSendError } from '../state/ipc-store.ts';
import { isControlMessage, workerEnv } from './worker.ts';
import type { ControlRequest, FromWorkerControl, MetricsJson, ToWorkerControl } from './worker.ts';

export interface PrimaryOptions {
  config: GatewayConfig;
  workers: number;
  log: Logger;
  /** The one line for stderr when the admin listener cannot listen (the CLI says what to change). */
  describeListenError?: (err: unknown) => string;
}

/** A worker that dies sooner than this after it started is restarted after a pause, not at once. */
const crashLoopMs = 2000;
const askTimeoutMs = 5000;

/** Runs the host until every worker has stopped; resolves to the exit code. */
export function runPrimary(opts: PrimaryOptions): Promise<number> {
  const { config, workers, log } = opts;
  const hub = config.redis ? undefined : createIpcHub();
  const forked = new Set<Worker>();
  const ready = new Set<Worker>();
  const startedAt = new Map<Worker, number>();
  const pending = new Map<number, (result: unknown) => void>();
  let nextId = 0;
  let started = false;
  let stopping = false;
  let exitCode = 0;
  let finish: (code: number) => void = () => undefined;
  const done = new Promise<number>((resolve) => (finish = resolve));

  const live = (): Worker[] => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected());
  const tell = (worker: Worker, message: ToWorkerControl): void => {
    // A worker that is exiting cannot hear it; 'exit' handles it.
    if (worker.isConnected()) worker.send(message, undefined, undefined, ignoreSendError);
  };
  /** Asks every ready worker; a worker that does not answer in time is left out. */
  const askAll = async (request: ControlRequest): Promise<unknown[]> => {
    const answers = [...ready].filter((w) => w.isConnected()).map(
      (worker) =>
        new Promise<unknown>((resolve) => {
          const id = nextId++;
          const timer = setTimeout(() => {
            pending.delete(id);
            resolve(undefined);
          }, askTimeoutMs);
          pending.set(id, (result) => {
            clearTimeout(timer);
            pending.delete(id);
            resolve(result);
          });
          tell(worker, { aipmWorker: request, id });
        }),
    );
    return (await Promise.all(answers)).filter((a) => a !== undefined);
  };

  const fork = (): void => {
    const worker = cluster.fork({ [workerEnv]: '1' });
    forked.add(worker);
    startedAt.set(worker, Date.now());
    worker.on('error', (err: Error) => log.debug({ err: err.message, pid: worker.process.pid }, 'worker channel error'));
    hub?.attach(worker);
    worker.on('message', (message: unknown) => {
      if (!isControlMessage(message)) return;
      const m = message as FromWorkerControl;
      if (m.aipmWorker === 'ready') {
        // Asked to stop while it was starting: it could not hear that yet.
        if (stopping) tell(worker, { aipmWorker: 'shutdown' });
        ready.add(worker);
        if (!started && ready.size === workers) void onAllReady();
      } else if (m.aipmWorker === 'reply') pending.get(m.id)?.(m.result);
    });
  };

  cluster.on('exit', (worker, code, signal) => {
    hub?.detach(worker);
    forked.delete(worker);
    ready.delete(worker);
    const lived = Date.now() - (startedAt.get(worker) ?? 0);
    startedAt.delete(worker);
    if (stopping) {
      if (forked.size === 0) void closeAdmin().then(() => finish(exitCode));
      return;
    }
    if (!started) {
      // A worker that cannot start (port in use, bad key file...) said why on stderr; so would the next.
      log.error({ pid: worker.process.pid, code, signal }, 'a worker failed to start: stopping');
      stopping = true;
      for (const w of live()) w.process.kill('SIGKILL');
      void closeAdmin().then(() => finish(1));
      return;
    }
    const pause = lived < crashLoopMs ? 1000 : 0;
    log.warn({ pid: worker.process.pid, code, signal, restartInMs: pause }, `worker ${worker.id} exited unexpectedly (${signal ?? `code ${code}`}), starting another`);
    setTimeout(() => {
      if (!stopping) fork();
    }, pause).unref();
  });

  // The host's admin listener: ready while every worker is; status and metrics gathered from them.
  const metrics = createMetrics(() => []);
  const adminServer = config.admin
    ? createServer(
        createAdminApp({
          apiKey: config.admin.api_key,
          // Once started, the host serves while any worker does (one being replaced is no reason to
          // take the whole host out of a load balancer).
          isReady: () => started && !stopping && ready.size > 0,
          status: async () => {
            const reports = (await askAll('status')) as StatusReport[];
            return { ...mergeStatusReports(reports), workers: reports.length };
          },
          metrics: {
            contentType: metrics.registry.contentType,
            metrics: async () => {
              const perWorker = (await askAll('metrics')) as MetricsJson[];
              // The primary's own: its process and the admin listener's connections.
              const own = await metrics.registry.getMetricsAsJSON();
              return AggregatorRegistry.aggregate([...perWorker, own]).metrics();
            },
          },
          reload: async (): Promise<ReloadResult> => {
            const results = (await askAll('reload')) as ReloadResult[];
            const refused = results.find((r) => !r.applied);
            if (refused || results.length < workers) log.warn({ applied: results.filter((r) => r.applied).length, workers }, 'configuration reload did not reach every worker');
            return refused ?? results[0] ?? { applied: false, problems: [{ path: '', message: 'no worker answered' }], routes: 0 };
          },
        }),
      )
    : undefined;
  if (adminServer) {
    guardAdminServer(adminServer, { limits: connectionLimits(config.server), maxConnections: config.server.max_connections, metrics: metrics.connections });
  }
  const closeAdmin = async (): Promise<void> => {
    if (!adminServer?.listening) return;
    adminServer.closeAllConnections();
    await new Promise<void>((resolve) => adminServer.close(() => resolve()));
  };

  async function onAllReady(): Promise<void> {
    started = true;
    let adminPort: number | null = null;
    if (adminServer && config.admin) {
      const { host, port } = config.admin;
      try {
        adminPort = await new Promise<number>((resolve, reject) => {
          adminServer.once('error', reject);
          adminServer.listen(port, host, () => resolve((adminServer.address() as AddressInfo).port));
        });
      } catch (err) {
        process.stderr.write(`ai-proxy-multi: ${opts.describeListenError?.(err) ?? `cannot listen on ${host}:${port}: ${(err as Error).message}`}\n`);
        exitCode = 1;
        stop('admin listener failed');
        return;
      }
    }
    log.info({ workers, adminPort, pids: live().map((w) => w.process.pid) }, `ai-proxy-multi running ${workers} workers`);
    // The primary serves no data plane: the collection after start-up is the only one it needs.
    reduceMemoryAfterStartUp(log);
  }

  const stop = (why: string): void => {
    if (stopping) {
      log.warn(`${why} again: exiting now`);
      for (const w of forked) w.process.kill('SIGKILL');
      process.exit(1);
    }
    stopping = true;
    log.info({ workers: forked.size }, `${why}: draining every worker`);
    for (const w of forked) tell(w, { aipmWorker: 'shutdown' });
    if (forked.size === 0) void closeAdmin().then(() => finish(exitCode));
  };
  process.on('SIGTERM', () => stop('SIGTERM received'));
  process.on('SIGINT', () => stop('SIGINT received'));
  process.on('SIGHUP', () => {
    log.info('SIGHUP received: reloading every worker');
    void askAll('reload').then((results) => {
      const refused = (results as ReloadResult[]).filter((r) => !r.applied);
      if (refused.length > 0) log.warn({ problems: refused[0]?.problems }, 'SIGHUP: configuration reload refused');
    });
  });

  for (let i = 0; i < workers; i++) fork();
  return done;
}
